"""``tokendistill rationales``: teacher + task + split -> rationale file (resumable, multi-process)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from tokendistill.attribution.methods import METHODS
from tokendistill.attribution.options import METHOD_OPTIONS
from tokendistill.attribution.stage import DTYPES, TARGET_CHOICES, distributed_state, generate_rationales
from tokendistill.errors import TokendistillError
from tokendistill.settings import (
    NonNegativeInt,
    PositiveInt,
    add_setting_arguments,
    declared_settings,
    flag_type,
)

HELP = (
    "Score every input word of a split with the teacher's gradients and write the top-k words of each "
    "example as its rationale (JSON Lines). Rerun the same command to resume; run it under "
    "`accelerate launch` to share the work between processes or GPUs."
)


def parse_key_values(pairs: list[str], option: str) -> dict[str, Any]:
    """``["n_steps=32", "baseline=pad"]`` -> ``{"n_steps": 32, "baseline": "pad"}``.

    A value is read as JSON when it parses (numbers, true/false, null, lists) and kept as text otherwise.
    """
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise TokendistillError(f"{option} expects KEY=VALUE, got {pair!r}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def read_stopwords(path: Path) -> list[str]:
    """One stopword per line; blank lines and lines starting with ``#`` are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="teacher: a Hub name or a saved model folder")
    parser.add_argument(
        "--chat-template",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="give the teacher each input as a user message in its tokenizer's chat template (the "
        "template's tokens are never rationale words); default: as the teacher was trained (recorded "
        "in its folder)",
    )
    parser.add_argument("--task", required=True, help="task name (see `tokendistill tasks`)")
    parser.add_argument("--split", default="train", choices=("train", "validation", "test"))
    parser.add_argument("--data-dir", type=Path, default=None, help="local data folder (default: the Hub)")
    parser.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task constructor option, repeatable (e.g. size=500 for a synthetic task)",
    )
    parser.add_argument("--output", type=Path, required=True, help="rationale file to write (.jsonl)")
    parser.add_argument("--method", default="saliency", choices=sorted(METHODS))
    options = parser.add_argument_group("method options (each for the methods that take it)")
    for options_class in dict.fromkeys(METHOD_OPTIONS.values()):
        add_setting_arguments(options, options_class, only_given=True)
    parser.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another attribution option, repeatable (e.g. word_aggregation=max); method options may be "
        "given this way too (n_steps=32)",
    )
    parser.add_argument("--k", type=flag_type(PositiveInt), default=5, help="words per rationale")
    parser.add_argument(
        "--target",
        default="prediction",
        choices=TARGET_CHOICES,
        help="explain the teacher's own greedy prediction or the gold target",
    )
    parser.add_argument("--stopwords", type=Path, default=None, help="file of words never chosen, one a line")
    parser.add_argument("--batch-size", type=flag_type(PositiveInt), default=16)
    parser.add_argument(
        "--shard-size", type=flag_type(PositiveInt), default=256, help="examples per resumable shard"
    )
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument(
        "--limit", type=flag_type(NonNegativeInt), default=None, help="only the first N examples of the split"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete shards left by a run with other settings"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def method_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The method options given as flags (refused for a method that does not take them) and the
    ``--method-option`` pairs; a method option left out keeps its declared default."""
    options = parse_key_values(args.method_option, "--method-option")
    accepted = {item.name for item in declared_settings(METHOD_OPTIONS[args.method])}
    for options_class in dict.fromkeys(METHOD_OPTIONS.values()):
        for item in declared_settings(options_class):
            if not hasattr(args, item.name):
                continue
            flag = item.flags[0]
            if item.name not in accepted:
                raise TokendistillError(f"{flag}: method {args.method!r} takes no option {item.name!r}")
            if item.name in options:
                raise TokendistillError(f"{flag}: {item.name} is also given as --method-option")
            options[item.name] = getattr(args, item.name)
    return options


def run(args: argparse.Namespace) -> int:
    # The stage logs its closing line (examples written, examples/s) at INFO; show it on stderr.
    stage_logger = logging.getLogger("tokendistill.attribution.stage")
    handler = logging.StreamHandler()
    stage_logger.addHandler(handler)
    stage_logger.setLevel(logging.INFO)
    try:
        output = generate_rationales(
            args.model,
            args.task,
            args.split,
            args.output,
            data_dir=args.data_dir,
            task_options=parse_key_values(args.task_option, "--task-option"),
            method=args.method,
            k=args.k,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            target=args.target,
            stopwords=read_stopwords(args.stopwords) if args.stopwords else None,
            dtype=args.dtype,
            limit=args.limit,
            overwrite=args.overwrite,
            show_progress=not args.no_progress,
            chat_template=args.chat_template,
            **method_options_from_args(args),
        )
    finally:
        stage_logger.removeHandler(handler)
    if distributed_state().is_main_process:
        print(output)
    return 0
