"""The README and benchmarks/README.md against the code: their examples run, and the
options, commands, kernels and parameters they name exist. (A doc example that breaks,
or a documented option that goes away, fails here.)"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import shlex

import numpy as np
import pytest

import fastnn
from fastnn.cli import build_parser

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


def _blocks(text: str, lang: str) -> list:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def _between(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i)]


def _ticked(text: str) -> list:
    """The `inline code` spans of markdown `text` (fenced blocks left out)."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _options(name: str) -> set:
    return {s for a in _subparser(name)._actions for s in a.option_strings}


@pytest.fixture(scope="module")
def digits():
    X, y = fastnn.datasets.load_embedded("digits", np.float32)
    return X, y


def test_readme_python_example_runs(digits, tmp_path, monkeypatch):
    (code,) = [b for b in _blocks(_read("README.md"), "python") if "fastnn.MLP(" in b]
    monkeypatch.chdir(tmp_path)
    X, y = digits
    ns = {}  # as pasted into a fresh interpreter: it defines its own X, y (it was a NameError)
    exec(compile(code, "README.md", "exec"), ns)
    net = ns["net"]  # the loaded model
    assert isinstance(net, fastnn.MLP) and (tmp_path / "digits.fnn").exists()
    assert net.score(X, y) > 0.95  # 20 epochs of Adam fit digits' training rows


def test_mlp_module_docstring_example_runs(digits):
    import fastnn.mlp

    lines = [line[4:] for line in fastnn.mlp.__doc__.splitlines() if line.startswith(">>> ")]
    X, y = digits
    ns = {"X": X, "y": y, "np": np, "fastnn": fastnn}
    exec("\n".join(lines), ns)
    assert ns["net"].n_iter_ == 20


def test_benchmarks_readme_profile_example_runs(digits, tmp_path, monkeypatch):
    (code,) = [b for b in _blocks(_read("benchmarks/README.md"), "python") if "fastnn.profile()" in b]
    monkeypatch.chdir(tmp_path)
    X, y = digits
    ns = {"X": X[:300], "y": y[:300], "model": fastnn.MLP([64, 16, 10], seed=0)}
    exec(compile(code, "benchmarks/README.md", "exec"), ns)
    assert "dense_forward" in ns["p"].table() and (tmp_path / "fit.json").exists()
    assert {s.name for s in ns["stats"]} >= {"dense_forward", "dense_backward", "softmax_xent", "adam_update"}


def _commands():
    """Every `fastnn ...` command line of the two READMEs' shell blocks, as argv lists."""
    for doc in ("README.md", "benchmarks/README.md"):
        for block in _blocks(_read(doc), "bash"):
            for line in block.splitlines():
                for part in line.split("#")[0].split("&&"):
                    if part.split()[:1] == ["fastnn"]:
                        argv = shlex.split(part)
                        yield pytest.param(argv[1:], id=" ".join(argv))


@pytest.mark.parametrize("argv", list(_commands()))
def test_readme_commands_parse(argv):
    build_parser().parse_args(argv)  # an unknown option or value exits (SystemExit)


def test_readme_options_exist():
    """Every `--option` of the prose is an option of the fastnn subcommand it is about: the one
    last named before it in its section (`fastnn train --data your.csv` ... `--target NAME`), or
    the section's own ("## `fastnn bench`", "## Profiling"); asv's and pytest's are theirs."""
    checked = 0
    for doc in ("README.md", "benchmarks/README.md"):
        for section in re.split(r"\n(?=#+ )", re.sub(r"```.*?```", "", _read(doc), flags=re.S)):
            heading = section.splitlines()[0]
            sub = "bench" if "`fastnn bench`" in heading else "profile" if "Profiling" in heading else None
            for span in _ticked(section):
                m = re.match(r"(?:python -m )?fastnn (train|predict|bench|profile|info)\b", span)
                if m:
                    sub = m.group(1)
                elif re.match(r"(asv|pytest|python -m pytest)\b", span):
                    sub = None
                for opt in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", span):
                    if sub is not None:
                        assert opt in _options(sub), f"{doc}: `{span}`: fastnn {sub} has no {opt}"
                        checked += 1
    assert checked >= 20


def test_readme_fit_options_exist():
    para = _between(_read("README.md"), "`fit` also takes", "diverging loss")
    names = {t for t in _ticked(para) if t.isidentifier() and t not in ("fit", "None", "False")}
    params = set(inspect.signature(fastnn.MLP.fit).parameters)
    assert len(names) >= 15 and names <= params, names - params
    from fastnn.nn.schedules import SCHEDULES

    listed = re.search(r"`schedule` \(([^)]*)\)", para).group(1)
    assert {s.strip() for s in listed.split(",")} <= set(SCHEDULES)


def test_readme_kernel_list_is_the_public_kernel_api():
    para = _between(_read("README.md"), "**Kernels.**", "Each validates")
    listed = {t for t in _ticked(para) if t.isidentifier()}
    assert listed == set(fastnn.kernels.__all__) - {"ACTIVATIONS", "bind", "BoundCall"}
    # bind (a call checked once, then repeated) is documented in the same paragraph, with what it takes
    after = _between(_read("README.md"), "Each validates", "### Backends")
    assert "fastnn.kernels.bind(" in after
    assert {t for t in _ticked(after) if t.isidentifier()} >= set(fastnn.kernels._BINDABLE)
    for name in listed - {"dropout_mask"}:  # "each takes backend=" (dropout_mask aside, as it says)
        assert "backend" in inspect.signature(getattr(fastnn.kernels, name)).parameters, name


def test_readme_estimators_and_their_extra_parameters_exist():
    import fastnn.estimators as est

    para = _between(_read("README.md"), "**scikit-learn drop-in.**", "`sample_weight` runs")
    names = {t.split()[-1] for t in _ticked(para)}
    classes = {n for n in names if n[:1].isupper()}
    assert classes <= set(est.__all__) and len(classes) == 8
    extras = {"dropout", "weight_decay", "dtype", "backend", "n_threads"}
    assert extras <= names and extras <= set(est.MLPClassifier().get_params())
    for act in ("gelu", "elu", "softplus", "leaky_relu"):
        assert act in names and est.MLPClassifier(activation=act, max_iter=1)._validate_params() is None
    for solver in ("adamw", "rmsprop", "adagrad"):
        assert solver in names and est.MLPClassifier(solver=solver)._validate_params() is None


@pytest.mark.parametrize("name", ["train", "profile"])
def test_help_states_every_default(name):
    """`fastnn train -h` is where the README sends users for the options: each one with a default
    says it (--lr, --epochs, --batch-size, --optimizer, --dtype, --seed... did not)."""
    silent = [a.option_strings[-1] for a in _subparser(name)._actions
              if a.option_strings and not any(a.default is d for d in (None, False, argparse.SUPPRESS))
              and "default" not in (a.help or "")]
    assert not silent, f"fastnn {name} -h gives no default for {silent}"


def test_dotted_names_in_the_prose_resolve():
    """`fastnn.a.b` in the READMEs' prose works as written, by attribute access after importing
    the submodules (`fastnn.profile` is the context manager, so `fastnn.profile.KernelMLP` did not)."""
    import importlib

    names = {m for doc in ("README.md", "benchmarks/README.md") for span in _ticked(_read(doc))
             for m in re.findall(r"\bfastnn(?:\.\w+)+", span)}
    assert len(names) >= 10
    for name in names:
        parts = name.split(".")
        for i in range(2, len(parts) + 1):  # as `import fastnn.bench` would, where the name is a module
            try:
                importlib.import_module(".".join(parts[:i]))
            except ImportError:
                break
        obj = fastnn
        for part in parts[1:]:
            assert hasattr(obj, part), f"{name}: {obj!r} has no attribute {part!r}"
            obj = getattr(obj, part)
