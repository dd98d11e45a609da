"""What teacher and student training share: loading the splits, building the trainer, resuming, saving."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from tokendistill.data.errors import TaskError
from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.models import family_of
from tokendistill.training.config import TrainConfig, training_arguments
from tokendistill.training.features import MultiTaskCollator, encode_examples
from tokendistill.training.manifest import write_manifest
from tokendistill.training.trainer import DistillTrainer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the model went and how it did on the validation split (the checkpoint that was kept)."""

    output_dir: Path
    validation_accuracy: float
    best_checkpoint: str
    global_step: int
    explain_skipped: int = 0  # training examples that had no rationale (multi-task students only)


def load_splits(
    task: Task, data_dir: str | Path | None, config: TrainConfig
) -> tuple[list[Example], list[Example]]:
    """The training examples and the validation examples used for model selection (never the test split)."""
    folder = Path(data_dir) if data_dir is not None else None
    train = task.load("train", folder)[: config.max_train_examples]
    validation = task.load("validation", folder)[: config.max_eval_examples]
    if not train or not validation:
        # A user's mistake (an empty data file, every row skipped as bad), so one line on the command line.
        empty = "train" if not train else "validation"
        raise TaskError(
            f"task {task.name!r} needs training and validation examples to train a model; "
            f"split {empty!r} has none"
        )
    return train, validation


def fit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: Task,
    train_dataset: datasets.Dataset,
    validation: Sequence[Example],
    output_dir: Path,
    config: TrainConfig,
    *,
    prefix: str,
    task_weights: tuple[float, float],
    resume: bool,
    callbacks: Sequence[TrainerCallback],
    chat_template: bool = False,
) -> DistillTrainer:
    """Train, validating every ``config.eval_steps``; the best checkpoint is loaded at the end.

    Validation prompts are made like the training rows: ``prefix`` before each source and, with
    ``chat_template``, the result as a user message in the tokenizer's chat template.

    ``resume=True`` continues from the last checkpoint in ``output_dir`` when there is one. Without it, a
    folder that already holds checkpoints is an error rather than something silently overwritten.
    """
    checkpoint = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
    if checkpoint and not resume:
        raise FileExistsError(
            f"{output_dir} already holds checkpoints (last: {Path(checkpoint).name}); "
            "resume to continue from it, or choose another output folder"
        )
    if resume and not checkpoint:
        logger.info("no checkpoint in %s to resume from; training from the start", output_dir)
    eval_dataset = encode_examples(
        validation,
        tokenizer,
        family_of(model),
        max_input_length=config.max_input_length,
        max_target_length=config.max_target_length,
        prefix=prefix,
        chat_template=chat_template,
    )
    trainer = DistillTrainer(
        model=model,
        args=training_arguments(config, output_dir),
        data_collator=MultiTaskCollator(tokenizer, model),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=list(callbacks),
        task=task,
        eval_examples=validation,
        max_new_tokens=config.max_new_tokens,
        task_weights=task_weights,
        learning_rate_multipliers=config.learning_rate_multipliers,
        task_passes=config.task_passes,
    )
    trainer.train(resume_from_checkpoint=checkpoint if resume else None)
    return trainer


def finish(
    trainer: DistillTrainer, model: PreTrainedModel, output_dir: Path, info: dict[str, Any]
) -> TrainResult:
    """Save ``model`` (the best checkpoint's weights, possibly merged), its tokenizer and manifest."""
    state = trainer.state
    result = TrainResult(
        output_dir=output_dir,
        validation_accuracy=float(state.best_metric),
        best_checkpoint=Path(state.best_model_checkpoint).name,
        global_step=state.global_step,
        explain_skipped=int(info.get("explain_skipped", 0)),
    )
    if model is trainer.model:
        trainer.save_model(str(output_dir))  # gathers sharded (FSDP/DeepSpeed) weights when needed
    elif trainer.is_world_process_zero():
        model.save_pretrained(output_dir)
        trainer.processing_class.save_pretrained(output_dir)
    trainer.save_state()
    if trainer.is_world_process_zero():
        write_manifest(
            output_dir,
            {
                **info,
                "validation_accuracy": result.validation_accuracy,
                "best_checkpoint": result.best_checkpoint,
                "global_step": result.global_step,
            },
        )
    return result
