"""The ``fastnn`` command: ``fastnn info | train | bench | profile``.

Each subcommand lives beside the code it drives and exposes
``configure_parser(parser)`` and ``run(args) -> int``; this module only wires them.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

# subcommand -> (module, one-line help)
COMMANDS = {
    "info": ("fastnn.info", "version, backends, ISA path, threads and loaded runtimes"),
    "train": ("fastnn.train_cli", "train an MLP (digits by default) and report accuracy and speed"),
    "bench": ("fastnn.bench", "side-by-side benchmarks against the NumPy baseline"),
    "profile": ("fastnn.profile", "per-kernel timings of a training run"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
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
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    if getattr(args, "_missing", None):
        print(args._missing, file=sys.stderr)
        return 2
    return int(importlib.import_module(args._module).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
