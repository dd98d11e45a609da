"""Student training: the plain baseline and the two-task students (teacher tokens, DSS, random words)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, get_args

from transformers import TrainerCallback

from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.models import family_of, load_model_and_tokenizer
from tokendistill.training.config import TrainConfig
from tokendistill.training.features import PREDICT_PREFIX, encode_examples
from tokendistill.training.models import resolve_task
from tokendistill.training.rationale_sources import file_rationales, palm_rationales, random_rationales
from tokendistill.training.run import TrainResult, finish, fit, load_splits

logger = logging.getLogger(__name__)

StudentMode = Literal["standard", "rationale", "dss", "random"]
STUDENT_MODES: tuple[str, ...] = get_args(StudentMode)


def train_student(
    model_name_or_path: str | Path,
    task: Task | str,
    output_dir: str | Path,
    *,
    mode: StudentMode = "standard",
    data_dir: str | Path | None = None,
    rationales_path: str | Path | None = None,
    rationales: Mapping[str, str] | None = None,
    alpha: float = 0.5,
    k: int = 5,
    config: TrainConfig | None = None,
    resume: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    chat_template: bool = False,
) -> TrainResult:
    """Fine-tune a student and save the checkpoint that scores best on the validation split.

    ``standard`` learns input -> target. The other modes learn two tasks, ``predict: `` + input -> target
    and ``explain: `` + input -> rationale, with loss ``alpha * label_loss + (1 - alpha) * rationale_loss``.
    Their rationales are read from ``rationales_path`` (``rationale``), from DSS's PaLM files under
    ``data_dir`` (``dss``) or drawn at random (``random``, k words); ``rationales`` (id -> text) replaces the
    files for ``rationale`` and ``dss``. ``chat_template`` wraps each (prefixed) input as a user message in
    the tokenizer's chat template, for both tasks, in training and validation; the manifest records it.
    """
    if mode not in STUDENT_MODES:
        raise ValueError(f"unknown student mode {mode!r}; use one of {', '.join(STUDENT_MODES)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    config = config or TrainConfig()
    task = resolve_task(task)
    output_dir = Path(output_dir)
    train, validation = load_splits(task, data_dir, config)
    explain_targets = _explain_targets(
        mode, task, train, data_dir, rationales_path, rationales, k, config.seed
    )
    model, tokenizer = load_model_and_tokenizer(model_name_or_path)
    prefix = "" if explain_targets is None else PREDICT_PREFIX
    train_dataset = encode_examples(
        train,
        tokenizer,
        family_of(model),
        max_input_length=config.max_input_length,
        max_target_length=config.max_target_length,
        chat_template=chat_template,
        prefix=prefix,
        rationales=explain_targets,
    )
    skipped = 0 if explain_targets is None else sum(not explain_targets.get(example.id) for example in train)
    if skipped:
        logger.warning(
            "%d of %d training examples have no rationale; they train on predict only", skipped, len(train)
        )
    trainer = fit(
        model,
        tokenizer,
        task,
        train_dataset,
        validation,
        output_dir,
        config,
        prefix=prefix,
        task_weights=(1.0, 0.0) if explain_targets is None else (alpha, 1.0 - alpha),
        resume=resume,
        callbacks=callbacks,
        chat_template=chat_template,
    )
    info = {
        "role": "student",
        "task": task.name,
        "mode": mode,
        "prefix": prefix,
        "chat_template": chat_template,
        "base_model": str(model_name_or_path),
    }
    if explain_targets is not None:
        info.update(alpha=alpha, explain_skipped=skipped)
    if mode == "random":
        info["k"] = k
    return finish(trainer, trainer.model, output_dir, info)


def _explain_targets(
    mode: StudentMode,
    task: Task,
    train: Sequence[Example],
    data_dir: str | Path | None,
    rationales_path: str | Path | None,
    rationales: Mapping[str, str] | None,
    k: int,
    seed: int,
) -> Mapping[str, str] | None:
    """The explain task's targets by example id for ``mode`` (``None`` for the standard student)."""
    if rationales_path is not None and mode != "rationale":
        raise ValueError(f"a rationale file is only used in 'rationale' mode, not {mode!r}")
    if rationales is not None and mode not in ("rationale", "dss"):
        raise ValueError(f"rationales can only be given for the 'rationale' and 'dss' modes, not {mode!r}")
    if mode == "standard":
        return None
    if rationales is not None:
        return rationales
    if mode == "rationale":
        if rationales_path is None:
            raise ValueError("'rationale' mode needs the teacher's rationale file (rationales_path)")
        return file_rationales(rationales_path, train)
    if mode == "dss":
        return palm_rationales(task.name, data_dir)
    return random_rationales(train, k, seed)
