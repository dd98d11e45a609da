"""Scoring a trained model on a split: greedy generation, the task's metric, a bootstrap interval.

``evaluate_model`` writes ``predictions.jsonl`` and ``metrics.json`` (formats in docs/CONTRIBUTING.md).
The same decoding and scoring functions serve model selection during training, so the accuracy logged
there and the one measured here are computed the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tokendistill.data.errors import TaskError
from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.errors import TokendistillError
from tokendistill.files import write_atomically
from tokendistill.metrics.bootstrap import bootstrap_interval
from tokendistill.models import family_of, load_model_and_tokenizer, source_ids
from tokendistill.training.manifest import input_prefix, uses_chat_template
from tokendistill.training.models import resolve_task

logger = logging.getLogger(__name__)


def score(task: Task, examples: Sequence[Example], predictions: Sequence[str]) -> list[bool]:
    """``task.is_correct`` for each (prediction, example) pair."""
    if len(predictions) != len(examples):
        raise ValueError(f"{len(predictions)} predictions for {len(examples)} examples")
    return [
        task.is_correct(prediction, example)
        for prediction, example in zip(predictions, examples, strict=True)
    ]


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sources: Sequence[str],
    *,
    batch_size: int = 64,
    max_new_tokens: int = 64,
    max_input_length: int = 1024,
    chat_template: bool = False,
) -> list[str]:
    """Greedy predictions for ``sources`` in their order: only the generated continuation, stripped.

    ``chat_template``: each source is a user message in the tokenizer's chat template, as in training."""
    encoded = source_ids(tokenizer, sources, max_length=max_input_length, chat_template=chat_template)
    with tqdm(total=len(encoded), desc="generating", unit="ex") as bar:
        texts = family_of(model).generate(
            model, tokenizer, encoded, batch_size=batch_size, max_new_tokens=max_new_tokens, progress=bar
        )
    return [text.strip() for text in texts]


def evaluate_model(
    model_path: str | Path,
    task: Task | str,
    split: str,
    output_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    batch_size: int = 64,
    max_new_tokens: int = 64,
    max_input_length: int = 1024,
    prefix: str | None = None,
    chat_template: bool | None = None,
    max_examples: int | None = None,
    bootstrap_samples: int = 1000,
    device: str | None = None,
) -> dict[str, Any]:
    """Generate for every example of ``split``, score it, write predictions and metrics; return the metrics.

    ``prefix=None`` uses the one recorded in the model folder's ``tokendistill.json`` (``predict: `` for a
    multi-task student, none otherwise), and ``chat_template=None`` whether the model was trained on
    prompts in its tokenizer's chat template (no, for a model without that file).
    """
    try:  # before anything loads: a typo such as "gpu" was a torch traceback once the model had loaded
        target_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as error:
        raise TokendistillError(f"device {device!r} is not a torch device: {error}") from None
    task = resolve_task(task)
    examples = task.load(split, Path(data_dir) if data_dir is not None else None)[:max_examples]
    if not examples:
        raise TaskError(f"task {task.name!r} has no examples in split {split!r}")
    if prefix is None:
        prefix = input_prefix(model_path)
    if chat_template is None:
        chat_template = uses_chat_template(model_path)
    model, tokenizer = load_model_and_tokenizer(model_path)
    model.to(target_device)
    predictions = generate(
        model,
        tokenizer,
        [prefix + example.source for example in examples],
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        max_input_length=max_input_length,
        chat_template=chat_template,
    )
    correct = score(task, examples, predictions)
    interval = bootstrap_interval(correct, confidence=0.95, n_resamples=bootstrap_samples)
    metrics = {
        "task": task.name,
        "split": split,
        "n": len(examples),
        "accuracy": interval.mean,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "model": str(model_path),
    }
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = (
        json.dumps({"id": example.id, "prediction": prediction, "target": example.target, "correct": ok})
        for example, prediction, ok in zip(examples, predictions, correct, strict=True)
    )
    write_atomically(output_dir / "predictions.jsonl", "".join(row + "\n" for row in rows).encode("utf-8"))
    write_atomically(output_dir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode("utf-8"))
    logger.info(
        "%s on %s/%s: accuracy %.4f (n=%d)", model_path, task.name, split, interval.mean, len(examples)
    )
    return metrics
