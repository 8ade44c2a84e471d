"""The ``holoops`` command. Each sub-command group lives in its own module in this package.

A module here that defines ``register(subparsers)`` is picked up automatically, so adding a command
never means editing a central list. Modules import their heavy dependencies inside their handlers,
keeping ``holoops --help`` fast.

Bad input never ends in a traceback: a usage error, a HoloopsError, a file that cannot be read or any
other failure prints one line, ``holoops[ COMMAND]: error: ...``, on stderr and exits with 2 (3 for an
unexpected failure, whose traceback ``HOLOOPS_DEBUG=1`` shows).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from holoops import __version__
from holoops.errors import HoloopsError

#: exit status of bad input (usage, parameters, files) and of an unexpected failure
EXIT_USAGE, EXIT_UNEXPECTED = 2, 3


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``holoops run: error: ... (see holoops run --help)``."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="holoops",
        description="Diagnose, plan and operate a service fleet: notebooks, runbooks, guides, alerts.",
    )
    parser.add_argument("--version", action="version", version=f"holoops {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except HoloopsError as exc:
        print(f"holoops: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("holoops: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file or folder named on the command line: missing, unreadable, a folder
        if os.environ.get("HOLOOPS_DEBUG"):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"holoops: error: {where}{exc.strerror or _one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a bug, or input nothing above recognised: one line, never a traceback
        if os.environ.get("HOLOOPS_DEBUG"):
            raise
        print(f"holoops: error: {type(exc).__name__}: {_one_line(exc)[:500]} "
              f"(unexpected; HOLOOPS_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_UNEXPECTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
