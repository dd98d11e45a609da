"""The ``tokendistill`` command line: one subcommand per pipeline stage."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tokendistill",
        description="Distil the input tokens a teacher relies on into a small student (either model family).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
