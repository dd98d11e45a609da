"""``tokendistill train-teacher``: fine-tune a teacher (seq2seq or decoder-only) on a task (full or LoRA)."""

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
from tokendistill.settings import add_setting_arguments, settings_from_args
from tokendistill.training.config import LoraSettings
from tokendistill.training.teacher import train_teacher

HELP = (
    "Fine-tune a teacher, seq2seq or decoder-only (Hub name or local folder), on a task's training split, "
    "keeping the checkpoint with the best validation accuracy. Run under `accelerate launch` for several "
    "GPUs."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a Hub name (google/flan-t5-xl) or a model folder")
    add_chat_template_argument(parser, trained=False)
    add_task_arguments(parser)
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints and the teacher")
    lora = parser.add_argument_group("LoRA (the saved teacher has the adapters merged in)")
    lora.add_argument("--lora", action="store_true", help="train LoRA adapters instead of all weights")
    add_setting_arguments(lora, LoraSettings, prefix="lora_")
    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    lora = None
    if args.lora:
        lora = LoraSettings(**settings_from_args(args, LoraSettings, prefix="lora_"))
    result = train_teacher(
        args.model,
        task_from_args(args),
        args.output,
        data_dir=args.data_dir,
        lora=lora,
        config=train_config_from_args(args),
        resume=args.resume,
        chat_template=args.chat_template,
    )
    print(f"teacher saved to {result.output_dir} (validation accuracy {result.validation_accuracy:.4f})")
    return 0
