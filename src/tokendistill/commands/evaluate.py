"""``tokendistill evaluate``: greedy predictions for a split, accuracy and its 95% bootstrap interval."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokendistill.commands.training_options import (
    add_chat_template_argument,
    add_task_arguments,
    task_from_args,
)
from tokendistill.settings import PositiveInt, flag_type
from tokendistill.training.evaluation import evaluate_model

HELP = (
    "Generate (greedy, batched) for every example of a split, score with the task's metric and write "
    "predictions.jsonl and metrics.json (accuracy, 95-percent bootstrap interval) to --output."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a trained model folder (or a Hub name)")
    add_chat_template_argument(parser, trained=True)
    add_task_arguments(parser)
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument(
        "--output", type=Path, required=True, help="folder for predictions.jsonl and metrics.json"
    )
    # Bounded here, so a bad value is a usage error before the model loads (not a traceback from
    # generation, or --max-examples -1 silently leaving out the last example).
    positive = flag_type(PositiveInt)
    parser.add_argument("--batch-size", type=positive, default=64)
    parser.add_argument("--max-new-tokens", type=positive, default=64)
    parser.add_argument("--max-input-length", type=positive, default=1024, help="tokens")
    parser.add_argument(
        "--prefix", default=None, help="input prefix (default: the one the model was trained with)"
    )
    parser.add_argument("--max-examples", type=positive, default=None, help="only the first N examples")
    parser.add_argument("--bootstrap-samples", type=positive, default=1000)
    parser.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when available)"
    )


def run(args: argparse.Namespace) -> int:
    metrics = evaluate_model(
        args.model,
        task_from_args(args),
        args.split,
        args.output,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        max_input_length=args.max_input_length,
        prefix=args.prefix,
        chat_template=args.chat_template,
        max_examples=args.max_examples,
        bootstrap_samples=args.bootstrap_samples,
        device=args.device,
    )
    print(json.dumps(metrics, indent=2))
    return 0
