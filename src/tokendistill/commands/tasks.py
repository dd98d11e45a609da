"""``tokendistill tasks``: list the registered tasks, or show a few examples of one."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tokendistill.data.errors import TaskError
from tokendistill.data.example import Example
from tokendistill.data.tasks import SPLITS, get_task, task_class, task_names
from tokendistill.settings import NonNegativeInt, flag_type

HELP = "List the tasks, or show a few examples of one with its template words marked."
TEMPLATE_OPEN, TEMPLATE_CLOSE = "⟦", "⟧"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--show", metavar="TASK", help="print examples of TASK instead of the task list")
    parser.add_argument("--split", choices=SPLITS, default="validation")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder laid out like the shared data folder (default: Hugging Face Hub)",
    )
    parser.add_argument(
        "-n", type=flag_type(NonNegativeInt), default=3, help="how many examples to print (default 3)"
    )
    parser.add_argument(
        "--options",
        type=json.loads,
        default={},
        help="task options as JSON, e.g. for jsonl: '{\"input_fields\": ...}'",
    )
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="skip and count bad rows instead of stopping (a damaged file or broken CSV quoting still stops)",
    )


def run(args: argparse.Namespace) -> int:
    if args.show is None:
        for name in task_names():
            cls = task_class(name)
            summary = (cls.__doc__ or "").strip().split("\n")[0].replace("``", "")
            labels = f" [labels: {', '.join(cls.labels)}]" if cls.labels else ""
            print(f"{name:16} {summary}{labels}")
        return 0
    # Errors (bad rows, unknown task or option, missing file) reach the user as one line through cli.main.
    if not isinstance(args.options, dict):
        raise TaskError(f"--options must be a JSON object of task options, got {args.options!r}")
    task = get_task(args.show, **args.options)
    examples = task.load(args.split, args.data_dir, skip_bad_rows=args.skip_bad_rows)
    marks = f"{TEMPLATE_OPEN}...{TEMPLATE_CLOSE}"
    print(f"{args.show} {args.split}: {len(examples)} examples; template words are marked {marks}")
    if task.last_skipped:
        print(f"skipped {task.last_skipped} bad rows", file=sys.stderr)
    for example in examples[: args.n]:
        print(render(example))
    return 0


def render(example: Example) -> str:
    """One example as text: id, source with template segments bracketed, target, evidence."""
    source = "".join(
        f"{TEMPLATE_OPEN}{segment.text.encode('unicode_escape').decode()}{TEMPLATE_CLOSE}"
        if segment.is_template
        else segment.text
        for segment in example.segments
    )
    evidence = ", ".join(repr(text) for text in example.evidence_text()) or "(none)"
    return f"\n--- {example.id}\nsource:   {source}\ntarget:   {example.target}\nevidence: {evidence}"
