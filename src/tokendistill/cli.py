"""The ``tokendistill`` command line: one subcommand per pipeline stage.

A user's mistake (bad data, a bad config, an unknown task or option, a missing file or a folder where a
file belongs) ends the command with one line, ``tokendistill: error: <what and where>``, on stderr and exit
status 2, like a bad command-line argument. ``--debug`` (before or after the command name) or
``TOKENDISTILL_DEBUG=1`` prints the traceback too. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from tokendistill.errors import TokendistillError

# Each module in tokendistill.commands defines HELP, add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "tasks": "tokendistill.commands.tasks",
    "rationales": "tokendistill.commands.rationales",
    "build-tiny": "tokendistill.commands.build_tiny",
    "train-teacher": "tokendistill.commands.train_teacher",
    "train-student": "tokendistill.commands.train_student",
    "evaluate": "tokendistill.commands.evaluate",
    "run": "tokendistill.commands.run",
    "report": "tokendistill.commands.report",
    "demo": "tokendistill.commands.demo",
}
EXIT_USER_ERROR = 2
DEBUG_ENV = "TOKENDISTILL_DEBUG"
# Errors about a path the user gave: they name the file, and a traceback would only hide that.
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
DEBUG_HELP = f"on an error, print the traceback too (or set {DEBUG_ENV}=1)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokendistill",
        description="Distil the input tokens a teacher relies on into a small student (either model family).",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        # SUPPRESS: given after the command name it sets the flag, left out it keeps the global one.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        sub.set_defaults(_run=module.run)
    return parser


def describe(error: BaseException) -> str:
    """The error as one line: an OS error names its file, multi-line messages are joined."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def debug_requested(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (TokendistillError, *PATH_ERRORS) as error:
        if debug_requested(args):
            traceback.print_exc()
        print(f"tokendistill: error: {describe(error)}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
