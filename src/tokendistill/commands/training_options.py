"""Command-line options shared by build-tiny, train-teacher, train-student and evaluate."""

from __future__ import annotations

import argparse
from pathlib import Path

from tokendistill.commands.rationales import parse_key_values
from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import Task
from tokendistill.errors import TokendistillError
from tokendistill.training.config import TrainConfig, reserved_training_arg_problems

DEFAULTS = TrainConfig()


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="task name (see `tokendistill tasks`)")
    parser.add_argument(
        "--task-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task constructor option, repeatable (e.g. size=500 for a synthetic task)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="local data folder (default: the Hub)")


CHAT_TEMPLATE_HELP = (
    "give the model each input as a user message in its tokenizer's chat template (the template's "
    "tokens are never rationale words)"
)


def add_chat_template_argument(parser: argparse.ArgumentParser, *, trained: bool) -> None:
    """``--chat-template`` for a model being trained; for a trained one also ``--no-chat-template``, with the
    model folder's record (``tokendistill.json``) as the default."""
    if trained:
        parser.add_argument(
            "--chat-template",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=CHAT_TEMPLATE_HELP + "; default: as the model was trained (recorded in its folder)",
        )
    else:
        parser.add_argument("--chat-template", action="store_true", help=CHAT_TEMPLATE_HELP)


def task_from_args(args: argparse.Namespace) -> Task:
    return get_task(args.task, **parse_key_values(args.task_option, "--task-option"))


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``TrainConfig`` fields; defaults are Distilling Step-by-Step's."""
    group = parser.add_argument_group("training (defaults follow Distilling Step-by-Step)")
    group.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    group.add_argument(
        "--batch-size", type=int, default=DEFAULTS.batch_size, help="examples per device and step"
    )
    group.add_argument("--eval-batch-size", type=int, default=DEFAULTS.eval_batch_size)
    group.add_argument(
        "--gradient-accumulation-steps", type=int, default=DEFAULTS.gradient_accumulation_steps
    )
    group.add_argument("--max-steps", type=int, default=DEFAULTS.max_steps, help="0: train --epochs instead")
    group.add_argument("--epochs", type=float, default=DEFAULTS.num_epochs, help="used when --max-steps is 0")
    group.add_argument(
        "--eval-steps", type=int, default=DEFAULTS.eval_steps, help="validate and checkpoint every N steps"
    )
    group.add_argument("--logging-steps", type=int, default=DEFAULTS.logging_steps)
    group.add_argument("--warmup-steps", type=int, default=DEFAULTS.warmup_steps)
    group.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay)
    group.add_argument(
        "--task-passes",
        type=int,
        choices=(1, 2),
        default=DEFAULTS.task_passes,
        help="two-task students: 1 forward pass over both tasks, or 2 (one per task, as DSS); same loss",
    )
    group.add_argument("--seed", type=int, default=DEFAULTS.seed)
    group.add_argument("--max-input-length", type=int, default=DEFAULTS.max_input_length, help="tokens")
    group.add_argument("--max-target-length", type=int, default=DEFAULTS.max_target_length, help="tokens")
    group.add_argument(
        "--max-new-tokens", type=int, default=DEFAULTS.max_new_tokens, help="generation length for validation"
    )
    group.add_argument(
        "--max-train-examples", type=int, default=None, help="only the first N training examples"
    )
    group.add_argument(
        "--max-eval-examples", type=int, default=None, help="only the first N validation examples"
    )
    group.add_argument("--bf16", action="store_true", help="bfloat16 mixed precision")
    group.add_argument(
        "--report-to",
        action="append",
        default=[],
        metavar="TOOL",
        help="tensorboard, wandb, ... (repeatable)",
    )
    group.add_argument(
        "--training-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other Seq2SeqTrainingArguments field, repeatable (e.g. lr_scheduler_type=constant); "
        "not output_dir: checkpoints go in --output",
    )
    group.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in the output folder"
    )


def training_args_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The ``--training-arg`` pairs; a field the command sets itself (``output_dir``) is refused."""
    training_args = parse_key_values(args.training_arg, "--training-arg")
    for key, why in reserved_training_arg_problems(training_args).items():
        raise TokendistillError(f"--training-arg {key}: not allowed: {why} (give that folder as --output)")
    return training_args


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_steps=args.max_steps or None,
        num_epochs=args.epochs,
        eval_steps=args.eval_steps,
        logging_steps=args.logging_steps,
        warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay,
        task_passes=args.task_passes,
        seed=args.seed,
        max_input_length=args.max_input_length,
        max_target_length=args.max_target_length,
        max_new_tokens=args.max_new_tokens,
        max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples,
        bf16=args.bf16,
        report_to=tuple(args.report_to),
        training_args=training_args_from_args(args),
    )
