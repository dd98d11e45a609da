"""Training settings with Distilling Step-by-Step's defaults, turned into Hugging Face training arguments.

The paper (arXiv 2409.12586) is silent on most hyper-parameters, so the defaults follow DSS
(google-research/distilling-step-by-step): learning rate 5e-5, 64 examples a step, 10,000 steps,
evaluation every 250 steps, inputs up to 1024 tokens, generation up to 64 tokens.

The experiment config's ``training`` sections and the training commands' flags are made from
``TrainConfig``'s declarations, so torch and transformers are imported only where the arguments are built:
loading a config does not load them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from annotated_types import Ge, Lt

from tokendistill.settings import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    check_settings,
    setting,
)

if TYPE_CHECKING:
    from transformers import TrainingArguments

# Training arguments the run sets itself and that ``training_args`` may not change: ``training_args`` is
# applied last, so any of these would silently replace a setting of the run's own (or break resuming and
# model selection) instead of being refused.
_MODEL_SELECTION = (
    "the run validates and checkpoints every eval_steps and keeps the checkpoint best on validation accuracy"
)
RESERVED_TRAINING_ARGS = {
    "output_dir": "checkpoints go in the model folder, where resuming and the next stages look for them",
    **{
        name: f"a setting of its own: use {setting} (--{setting.replace('_', '-')})"
        for name, setting in (
            ("learning_rate", "learning_rate"),
            ("per_device_train_batch_size", "batch_size"),
            ("per_device_eval_batch_size", "eval_batch_size"),
            ("gradient_accumulation_steps", "gradient_accumulation_steps"),
            ("max_steps", "max_steps"),
            ("num_train_epochs", "num_epochs"),
            ("eval_steps", "eval_steps"),
            ("save_total_limit", "save_total_limit"),
            ("logging_steps", "logging_steps"),
            ("warmup_steps", "warmup_steps"),
            ("weight_decay", "weight_decay"),
            ("bf16", "bf16"),
            ("report_to", "report_to"),
        )
    },
    "seed": "the run sets it from its seed (seeds in a config, --seed on the command line)",
    "remove_unused_columns": "the collator needs the explain-task columns the model's forward does not take",
    **dict.fromkeys(
        (
            "eval_strategy",
            "save_strategy",
            "save_steps",
            "metric_for_best_model",
            "greater_is_better",
            "load_best_model_at_end",
        ),
        _MODEL_SELECTION,
    ),
}


def reserved_training_arg_problems(training_args: Mapping[str, Any]) -> dict[str, str]:
    """``{key: why}`` for each key of ``training_args`` that may not be set there."""
    return {key: RESERVED_TRAINING_ARGS[key] for key in training_args if key in RESERVED_TRAINING_ARGS}


def bf16_unsupported(training_args: Mapping[str, Any] | None = None) -> str | None:
    """Why this machine cannot train in bfloat16 mixed precision, or None when it can.

    The same test as ``TrainingArguments`` makes (transformers refuses bf16 unless a bf16-capable GPU or an
    XLA device is present, or ``use_cpu`` is set), made before anything is trained.
    """
    if (training_args or {}).get("use_cpu"):
        return None
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    if is_torch_bf16_gpu_available() or is_torch_xla_available():
        return None
    import torch

    if torch.cuda.is_available():
        return "this machine's GPU has no bfloat16 support (it needs an Ampere or newer GPU)"
    return "this machine has no GPU with bfloat16 support"


@dataclass
class TrainConfig:
    """Everything a teacher or student run needs besides the model, the task and the output folder.

    Each setting is declared once here (``tokendistill.settings``): the checks below, the command-line
    flags of ``train-teacher`` and ``train-student`` and the ``training`` sections of the experiment
    config are made from these declarations. ``batch_size`` counts examples per device and step; a
    multi-task student turns each example into two sequences (``predict:`` and ``explain:``), as DSS does.
    ``eval_steps`` is also the checkpoint interval, so the best checkpoint on the validation split can be
    restored at the end.
    """

    learning_rate: PositiveFloat = setting(5e-5, help="peak learning rate")
    batch_size: PositiveInt = setting(64, help="examples per device and step")
    eval_batch_size: PositiveInt = setting(64, help="examples per device in a validation batch")
    gradient_accumulation_steps: PositiveInt = setting(1, help="steps whose gradients add up to one update")
    max_steps: PositiveInt | None = setting(10_000, help="optimizer steps; none: train num_epochs instead")
    # Added to the config after runs were fingerprinted: left out of the dump at its default.
    num_epochs: PositiveFloat = setting(
        1.0, help="epochs, used only when max_steps is none", aliases=("--epochs",), dump_default=False
    )
    eval_steps: PositiveInt = setting(250, help="validate and checkpoint every N steps")
    save_total_limit: PositiveInt | None = setting(
        2, help="checkpoints kept, the best one among them; none: all of them"
    )
    logging_steps: PositiveInt = setting(50, help="log the training loss every N steps")
    warmup_steps: NonNegativeInt = setting(0, help="steps of linear learning-rate warm-up")
    weight_decay: NonNegativeFloat = setting(0.0, help="AdamW weight decay")
    learning_rate_multipliers: dict[str, PositiveFloat] = setting(
        factory=dict,
        flag="--learning-rate-multiplier",
        help="parameters whose name contains KEY train at learning_rate * VALUE, the others at "
        "learning_rate (e.g. crossattention=10 for new weights next to pretrained ones)",
    )
    # Which is faster depends on the device and the rationale length (benchmarks/student_step.py: on CPU
    # two passes won with long rationales).
    task_passes: Literal[1, 2] = setting(
        1,
        help="two-task students: 1 forward pass over both tasks' padded sequences, or 2 (one per task, as "
        "DSS runs it); the loss is the same",
    )
    # The run decides the seed (a config's seeds and teacher.seed) and the example limits (its task section).
    seed: Seed = setting(0, in_config=False, help="random seed")
    max_input_length: PositiveInt = setting(1024, help="input tokens (longer inputs are truncated)")
    max_target_length: PositiveInt = setting(256, help="target tokens (longer targets are truncated)")
    max_new_tokens: PositiveInt = setting(64, help="generation length in validation")
    max_train_examples: PositiveInt | None = setting(
        None, in_config=False, help="only the first N training examples (smoke runs)"
    )
    max_eval_examples: PositiveInt | None = setting(
        None, in_config=False, help="only the first N validation examples, for model selection"
    )
    bf16: bool = setting(False, help="bfloat16 mixed precision")
    report_to: tuple[str, ...] = setting((), metavar="TOOL", help="where to log: tensorboard, wandb, ...")
    training_args: dict[str, Any] = setting(
        factory=dict,
        flag="--training-arg",
        help="any other TrainingArguments field (e.g. lr_scheduler_type=constant); not output_dir: "
        "checkpoints go in the model folder",
    )

    def __post_init__(self) -> None:
        check_settings(self)
        for key, why in reserved_training_arg_problems(self.training_args).items():
            raise ValueError(f"TrainConfig.training_args may not set {key!r}: {why}")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters for a teacher too large to fine-tune fully (the paper's teacher is Flan-T5 3B).

    Declared once, like ``TrainConfig``: the ``--lora-*`` flags of ``train-teacher`` and a config's
    ``teacher.lora`` section are made from these fields.
    """

    r: PositiveInt = setting(16, help="rank of the adapters")
    alpha: PositiveInt = setting(32, help="scale of the adapters' update: alpha / r")
    dropout: Annotated[float, Ge(0), Lt(1)] = setting(0.05, help="dropout on the adapters' input")
    target_modules: tuple[str, ...] | None = setting(
        None,
        flag="--target-module",
        metavar="NAME",
        help="a module to adapt; left out (null in a config): peft picks the architecture's attention "
        "projections (q and v for T5, q_proj and v_proj for BART)",
    )

    def __post_init__(self) -> None:
        check_settings(self)


def training_arguments(config: TrainConfig, output_dir: str | Path) -> TrainingArguments:
    """Training arguments: step-wise evaluation by generation, best checkpoint on accuracy."""
    import torch
    from transformers import TrainingArguments

    for key, why in reserved_training_arg_problems(config.training_args).items():
        raise ValueError(f"training_args may not set {key!r}: {why}")  # the config was changed after init
    settings: dict[str, Any] = {
        "output_dir": str(output_dir),
        "learning_rate": config.learning_rate,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.eval_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_steps": -1 if config.max_steps is None else config.max_steps,
        "num_train_epochs": config.num_epochs,
        "eval_strategy": "steps",
        "eval_steps": config.eval_steps,
        "save_strategy": "steps",
        "save_steps": config.eval_steps,
        "save_total_limit": config.save_total_limit,
        "logging_steps": config.logging_steps,
        "warmup_steps": config.warmup_steps,
        "weight_decay": config.weight_decay,
        "seed": config.seed,
        "bf16": config.bf16,
        "report_to": list(config.report_to) or "none",
        "metric_for_best_model": "accuracy",
        "greater_is_better": True,
        "load_best_model_at_end": True,
        # Rows carry the explain-task columns, which the model's forward does not take; the collator picks
        # the columns it needs.
        "remove_unused_columns": False,
        "dataloader_pin_memory": torch.cuda.is_available(),
    }
    settings.update(config.training_args)
    return TrainingArguments(**settings)
