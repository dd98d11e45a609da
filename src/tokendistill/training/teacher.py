"""Teacher fine-tuning: full or LoRA, saved as a plain model for the attribution stage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from peft import LoraConfig, get_peft_model
from transformers import TrainerCallback

from tokendistill.data.tasks.base import Task
from tokendistill.models import family_of, load_model_and_tokenizer
from tokendistill.training.config import LoraSettings, TrainConfig
from tokendistill.training.features import encode_examples
from tokendistill.training.models import resolve_task
from tokendistill.training.run import TrainResult, finish, fit, load_splits


def train_teacher(
    model_name_or_path: str | Path,
    task: Task | str,
    output_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    lora: LoraSettings | None = None,
    config: TrainConfig | None = None,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    chat_template: bool = False,
) -> TrainResult:
    """Fine-tune a teacher (either family) on input -> target; save the best checkpoint on validation.

    With ``lora`` only low-rank adapters are trained (checkpoints hold the adapters); the saved teacher has
    them merged into its weights, so it loads as a plain model of its family. ``chat_template`` wraps each
    input as a user message in the tokenizer's chat template (``tokendistill.models.prompt``), in training
    and validation alike; the manifest records it for evaluation and attribution.
    """
    config = config or TrainConfig()
    task = resolve_task(task)
    output_dir = Path(output_dir)
    train, validation = load_splits(task, data_dir, config)
    model, tokenizer = load_model_and_tokenizer(model_name_or_path)
    if lora is not None:
        model = get_peft_model(
            model,
            LoraConfig(
                task_type=family_of(model).peft_task_type,
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules) if lora.target_modules else None,
            ),
        )
    train_dataset = encode_examples(
        train,
        tokenizer,
        family_of(model),
        max_input_length=config.max_input_length,
        max_target_length=config.max_target_length,
        chat_template=chat_template,
    )
    trainer = fit(
        model,
        tokenizer,
        task,
        train_dataset,
        validation,
        output_dir,
        config,
        prefix="",
        task_weights=(1.0, 0.0),
        resume=resume,
        callbacks=callbacks,
        chat_template=chat_template,
    )
    trained = trainer.model.merge_and_unload() if lora is not None else trainer.model
    info = {
        "role": "teacher",
        "task": task.name,
        "prefix": "",
        "chat_template": chat_template,
        "base_model": str(model_name_or_path),
    }
    if lora is not None:
        info["lora"] = {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout}
    return finish(trainer, trained, output_dir, info)
