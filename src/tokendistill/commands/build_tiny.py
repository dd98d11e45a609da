"""``tokendistill build-tiny``: a small randomly initialised model (T5, BART, Llama or GPT-2) with a tokenizer
trained on a task."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Annotated

from annotated_types import Ge

from tokendistill.commands.training_options import add_task_arguments, task_from_args
from tokendistill.models.tiny import ARCHITECTURES, SIZES
from tokendistill.settings import flag_type
from tokendistill.training.models import build_tiny_for_task

HELP = (
    "Build a small model (seq2seq: t5, bart; decoder-only: llama, gpt2) from a config, with a subword "
    "tokenizer trained on the task's training text, and save it; train-teacher and train-student then take "
    "its folder as --model (no download)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    parser.add_argument(
        "--output", type=Path, required=True, help="folder to save the model and tokenizer in"
    )
    parser.add_argument("--architecture", default="t5", choices=ARCHITECTURES)
    parser.add_argument("--size", default="tiny", choices=sorted(SIZES))
    # The experiment config's tiny.vocab_size has the same bound; below it the tokenizer trainer fails
    # (negative) or the model gets a vocabulary of little more than its special tokens.
    parser.add_argument("--vocab-size", type=flag_type(Annotated[int, Ge(100)]), default=2000)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    path = build_tiny_for_task(
        task_from_args(args),
        args.output,
        data_dir=args.data_dir,
        architecture=args.architecture,
        size=args.size,
        vocab_size=args.vocab_size,
        seed=args.seed,
    )
    print(f"model saved to {path}")
    return 0
