"""The ``pipesdfa`` command line: a thin dispatcher over :mod:`pipesdfa.cli`.

Every subcommand lives in its own module under ``pipesdfa.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
A :class:`~pipesdfa.util.errors.UserError` (bad input) prints one line ``pipesdfa: error: ...``
on stderr and exits with code 2; nothing else is printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from pipesdfa import __version__
from pipesdfa.util.errors import UserError

#: Subcommand modules, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "pipesdfa.cli.demo",
    "pipesdfa.cli.train",
    "pipesdfa.cli.finetune",
    "pipesdfa.cli.eval",
    "pipesdfa.cli.export",
    "pipesdfa.cli.simulate",
    "pipesdfa.cli.explore",
    "pipesdfa.cli.reproduce",
    "pipesdfa.cli.data",
)


#: Long subcommands that take ``--threads`` here and have it applied before they run
#: (``train`` and ``demo`` apply the thread policy per run themselves: :mod:`pipesdfa.util.threads`).
THREADED: tuple[str, ...] = ("reproduce",)
#: Subcommands that train: freed memory stays mapped from step to step (:mod:`pipesdfa.util.malloc`).
TRAINING: tuple[str, ...] = ("train", "finetune", "reproduce", "demo")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipesdfa",
        description="SDFA training of spiking neural networks and the PipeSDFA accelerator simulator.",
    )
    parser.add_argument("--version", action="version", version=f"pipesdfa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    from pipesdfa.util.threads import add_threads_arg

    for name in THREADED:
        add_threads_arg(sub.choices[name])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if args.command in TRAINING:
            from pipesdfa.util.malloc import keep_freed_memory

            keep_freed_memory()  # PIPESDFA_MALLOC=default: glibc's own thresholds
        if args.command in THREADED:
            from pipesdfa.util.threads import apply_threads

            apply_threads(args.threads)
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"pipesdfa: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("pipesdfa: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
