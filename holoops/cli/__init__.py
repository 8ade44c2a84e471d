"""The ``holoops`` command. Each sub-command group lives in its own module in this package.

A module here that defines ``register(subparsers)`` is picked up automatically, so adding a command
never means editing a central list. Modules import their heavy dependencies inside their handlers,
keeping ``holoops --help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from holoops import __version__
from holoops.errors import HoloopsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="holoops",
        description="Diagnose, plan and operate a service fleet: notebooks, runbooks, guides, alerts.",
    )
    parser.add_argument("--version", action="version", version=f"holoops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except HoloopsError as exc:
        print(f"holoops: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
