"""Training settings with Distilling Step-by-Step's defaults, turned into Hugging Face training arguments.

The paper (arXiv 2409.12586) is silent on most hyper-parameters, so the defaults follow DSS
(google-research/distilling-step-by-step): learning rate 5e-5, 64 examples a step, 10,000 steps,
evaluation every 250 steps, inputs up to 1024 tokens, generation up to 64 tokens.

torch and transformers are imported where the arguments are built, so the experiment config can check its
training sections against the rules here without loading them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import TrainingArguments

# Training arguments the run sets itself and that ``training_args`` may not change (issue 11): checkpoints go
# in the model folder, where resuming and the next stages look for them.
RESERVED_TRAINING_ARGS = {
    "output_dir": "checkpoints go in the model folder, where resuming and the next stages look for them",
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

    ``batch_size`` counts examples per device and step; a multi-task student turns each example into two
    sequences (``predict:`` and ``explain:``), as DSS does. ``eval_steps`` is also the checkpoint interval,
    so the best checkpoint on the validation split can be restored at the end. ``training_args`` passes any
    other ``TrainingArguments`` field through (e.g. ``{"lr_scheduler_type": "constant"}``).
    """

    learning_rate: float = 5e-5
    batch_size: int = 64
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    max_steps: int | None = 10_000
    num_epochs: float = 1.0  # used only when max_steps is None
    eval_steps: int = 250
    save_total_limit: int | None = 2
    logging_steps: int = 50
    warmup_steps: int = 0
    weight_decay: float = 0.0
    # Parameters whose name contains a key train at learning_rate * value, e.g. {"crossattention": 10.0}
    # for new weights next to pretrained ones (the MiniLM teacher); all others at learning_rate.
    learning_rate_multipliers: dict[str, float] = field(default_factory=dict)
    # Two-task students: 1 = both tasks in one padded forward pass; 2 = one pass per task, as DSS runs it.
    # The loss is identical; which is faster depends on the device and the rationale length
    # (benchmarks/student_step.py: on CPU two passes won with long rationales).
    task_passes: int = 1
    seed: int = 0
    max_input_length: int = 1024
    max_target_length: int = 256
    max_new_tokens: int = 64
    max_train_examples: int | None = None  # first N training examples (smoke runs)
    max_eval_examples: int | None = None  # first N validation examples used for model selection
    bf16: bool = False
    report_to: tuple[str, ...] = ()  # e.g. ("tensorboard",) or ("wandb",)
    training_args: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("batch_size", "eval_batch_size", "gradient_accumulation_steps", "eval_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be at least 1, got {getattr(self, name)}")
        for key, factor in self.learning_rate_multipliers.items():
            if not factor > 0:
                raise ValueError(f"TrainConfig.learning_rate_multipliers[{key!r}] must be > 0, got {factor}")
        if self.task_passes not in (1, 2):
            raise ValueError(f"TrainConfig.task_passes must be 1 or 2, got {self.task_passes}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TrainConfig.max_steps must be at least 1 or None, got {self.max_steps}")
        for key, why in reserved_training_arg_problems(self.training_args).items():
            raise ValueError(f"TrainConfig.training_args may not set {key!r}: {why}")


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapters for a teacher too large to fine-tune fully (the paper's teacher is Flan-T5 3B).

    ``target_modules=None`` lets peft pick the architecture's attention projections (``q`` and ``v`` for T5,
    ``q_proj`` and ``v_proj`` for BART).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] | None = None


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
