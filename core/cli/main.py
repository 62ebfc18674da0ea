"""Entry point of `zs3`: builds the parser from the ``cmd_*`` modules and maps errors to exit codes.

Sub-command modules are discovered rather than listed so that each command owns one file; every
module exposes ``register(subparsers)`` which adds its parser and sets ``func`` to a callable taking
the parsed ``argparse.Namespace`` and returning an exit status. Heavy imports (torch, gensim) stay
inside the command functions so that ``zs3 --help`` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import core
from core.errors import CancelledError, UserError

log = logging.getLogger("zs3")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zs3",
        description="Pre-label images for semantic segmentation, unseen classes included (ZS3Net).",
    )
    parser.add_argument("--version", action="version", version=f"zs3-annotator {core.__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import core.cli as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"core.cli.{info.name}").register(subparsers)
    return parser


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"zs3 {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except CancelledError:
        print(f"zs3 {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"zs3 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
