"""``tokendistill train-student``: the standard baseline or a two-task (predict + explain) student."""

from __future__ import annotations

import argparse
from pathlib import Path

from tokendistill.commands.training_options import (
    add_chat_template_argument,
    add_task_arguments,
    add_training_arguments,
    task_from_args,
    train_config_from_args,
)
from tokendistill.errors import TokendistillError
from tokendistill.settings import Fraction, PositiveInt, flag_type
from tokendistill.training.student import STUDENT_MODES, train_student

HELP = (
    "Train a student: 'standard' (input -> label), 'rationale' (plus explain -> the teacher's top-k "
    "words), 'dss' (plus explain -> PaLM's chain of thought) or 'random' (plus explain -> k random words)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="student to start from: a Hub name or a model folder")
    add_chat_template_argument(parser, trained=False)
    add_task_arguments(parser)
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints and the student")
    parser.add_argument("--mode", default="standard", choices=STUDENT_MODES)
    parser.add_argument(
        "--rationales",
        type=Path,
        default=None,
        help="rationale file from `tokendistill rationales` (mode rationale)",
    )
    parser.add_argument(
        "--alpha",
        type=flag_type(Fraction),
        default=0.5,
        help="weight of the label loss (1 - alpha: rationale)",
    )
    parser.add_argument(
        "--k", type=flag_type(PositiveInt), default=5, help="words per random rationale (mode random)"
    )
    add_training_arguments(parser)


def check_mode_inputs(args: argparse.Namespace) -> None:
    """Refuse a mode without its rationale source, or a rationale file it would not read, by the flags'
    names and before any data or model is loaded."""
    if args.mode == "rationale" and args.rationales is None:
        raise TokendistillError("--mode rationale needs --rationales FILE (from `tokendistill rationales`)")
    if args.rationales is not None and args.mode != "rationale":
        raise TokendistillError(f"--rationales is read only in --mode rationale, not --mode {args.mode}")
    if args.mode == "dss" and args.data_dir is None:
        raise TokendistillError("--mode dss reads DSS's PaLM rationales from a data folder: give --data-dir")


def run(args: argparse.Namespace) -> int:
    check_mode_inputs(args)
    result = train_student(
        args.model,
        task_from_args(args),
        args.output,
        mode=args.mode,
        data_dir=args.data_dir,
        rationales_path=args.rationales,
        alpha=args.alpha,
        k=args.k,
        config=train_config_from_args(args),
        resume=args.resume,
        chat_template=args.chat_template,
    )
    skipped = f", {result.explain_skipped} examples without rationale" if result.explain_skipped else ""
    accuracy = f"validation accuracy {result.validation_accuracy:.4f}"
    print(f"student saved to {result.output_dir} ({accuracy}{skipped})")
    return 0
