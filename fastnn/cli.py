"""The ``fastnn`` command: ``fastnn info | train | predict | bench | profile``.

Each subcommand lives beside the code it drives and exposes
``configure_parser(parser)`` and ``run(args) -> int``; this module only wires them.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

# subcommand -> (module, one-line help)
COMMANDS = {
    "info": ("fastnn.info", "version, backends, ISA path, threads and loaded runtimes"),
    "train": ("fastnn.train_cli", "train an MLP (digits by default) and report accuracy and speed"),
    "predict": ("fastnn.predict_cli", "apply a saved model to a data file: predictions (CSV) and the score"),
    "bench": ("fastnn.bench", "side-by-side benchmarks against the NumPy baseline"),
    "profile": ("fastnn.profile", "per-kernel timings of a training run"),
}


def threads_option(n, command: str) -> int:
    """A subcommand's --threads value, checked (a ValueError naming the option); more than the
    usable cores is kept (the user asked for it) with a one-line warning on stderr."""
    from .threads import check_num_threads, usable_cores

    n = check_num_threads(n, "--threads")
    cores = usable_cores()
    if n > cores:
        print(f"fastnn {command}: warning: --threads {n}, but only {cores} core{'s' * (cores != 1)} "
              "usable here; threads beyond that share cores and usually run slower", file=sys.stderr)
    return n


def build_parser() -> argparse.ArgumentParser:
    # the docstring's first line, without its reStructuredText ``literal`` marks (noise in a terminal)
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.splitlines()[0].replace("``", ""))
    # required: a bare `fastnn` is a usage error (usage and one line on stderr, exit 2), as argparse reports others
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            importlib.import_module(module).configure_parser(p)
        except ModuleNotFoundError as exc:  # only while a subcommand is being built
            if exc.name != module:
                raise
            p.set_defaults(_missing=f"fastnn {name}: not built yet ({module} is missing)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", None):
        print(args._missing, file=sys.stderr)
        return 2
    if os.environ.get("FASTNN_BACKEND"):  # a bad value would surface mid-run as a traceback
        from . import backends

        try:
            backends.from_environment()
        except ValueError as exc:  # it names the variable
            print(f"fastnn: {exc}", file=sys.stderr)
            return 2
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: one line and the shell's 128 + SIGINT, not a traceback from a kernel
        print(f"fastnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fastnn ... | head`: the reader has gone; stop quietly, as other tools do
        # and point stdout at /dev/null, or Python's own flush at exit reports the broken pipe again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
