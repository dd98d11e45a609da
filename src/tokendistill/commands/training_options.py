"""Command-line options shared by build-tiny, train-teacher, train-student and evaluate."""

from __future__ import annotations

import argparse
from pathlib import Path

from tokendistill.commands.rationales import parse_key_values
from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import Task
from tokendistill.errors import TokendistillError
from tokendistill.settings import add_setting_arguments, settings_from_args
from tokendistill.training.config import TrainConfig, reserved_training_arg_problems


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
    """A flag for every ``TrainConfig`` setting, made from its declaration (name, type, bounds, default,
    help); defaults are Distilling Step-by-Step's."""
    group = parser.add_argument_group("training (defaults follow Distilling Step-by-Step)")
    add_setting_arguments(group, TrainConfig)
    group.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in the output folder"
    )


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` the flags give; a ``--training-arg`` the command sets itself (``output_dir``, a
    setting with a flag of its own) is refused."""
    settings = settings_from_args(args, TrainConfig)
    for key, why in reserved_training_arg_problems(settings["training_args"]).items():
        hint = " (give that folder as --output)" if key == "output_dir" else ""
        raise TokendistillError(f"--training-arg {key}: not allowed: {why}{hint}")
    return TrainConfig(**settings)
