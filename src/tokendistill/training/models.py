"""Resolving tasks, and building a tiny model of either family for a task."""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import Task
from tokendistill.models.tiny import Architecture, build_and_save
from tokendistill.training.features import EXPLAIN_PREFIX, PREDICT_PREFIX


def resolve_task(task: Task | str) -> Task:
    """A task given by registry name or already built."""
    return get_task(task) if isinstance(task, str) else task


def build_tiny_for_task(
    task: Task | str,
    output_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    architecture: Architecture = "t5",
    size: str = "tiny",
    vocab_size: int = 2000,
    seed: int = 0,
) -> Path:
    """A randomly initialised model with a tokenizer trained on the task's training sources and targets.

    The task prefixes are part of the tokenizer's training text, so ``predict:`` and ``explain:`` get
    their own pieces instead of unknown tokens.
    """
    task = resolve_task(task)
    examples = task.load("train", Path(data_dir) if data_dir is not None else None)
    if not examples:
        raise ValueError(f"task {task.name!r} has no training examples to train a tokenizer on")
    texts = chain(
        [PREDICT_PREFIX, EXPLAIN_PREFIX],
        (example.source for example in examples),
        (example.target for example in examples),
    )
    return build_and_save(
        texts, output_dir, architecture=architecture, size=size, vocab_size=vocab_size, seed=seed
    )
