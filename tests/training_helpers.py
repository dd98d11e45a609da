"""Builders shared by the training and evaluation tests: tiny models and a task they learn in seconds."""

from __future__ import annotations

import contextlib
import logging
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from transformers import PreTrainedModel, PreTrainedTokenizerFast

from tokendistill.data.example import Example, own, template
from tokendistill.data.synthetic import SyntheticNLI
from tokendistill.data.tasks.base import Task
from tokendistill.models.tiny import DECODER_ONLY, build_model, train_tokenizer
from tokendistill.training.config import TrainConfig
from tokendistill.training.features import EXPLAIN_PREFIX, PREDICT_PREFIX

COLOURS = ("red", "blue", "green", "yellow", "black", "white")
FILLER = ("box", "cup", "ball", "hat", "book", "lamp", "chair", "kite", "on", "the", "shelf", "door", "floor")


class ColourTask(Task):
    """Name the one colour among 3-8 filler words (chance: 1 in 6). A tiny T5 learns it in ~50 steps,
    which the project's synthetic tasks (made to need real attention) do not allow on a test budget.
    Each source ends with a template segment, and the colour is the evidence span.

    ``wrong_validation_targets`` gives every other validation example a colour missing from its text, so a
    model that learned the task scores about 0.5 there: an accuracy that any slip in scoring would move.
    """

    name = "test-colour"
    sizes: ClassVar[dict[str, int]] = {"train": 400, "validation": 60, "test": 60}

    def __init__(self, wrong_validation_targets: bool = False) -> None:
        super().__init__()
        self.wrong_validation_targets = wrong_validation_targets

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        rng = random.Random(split)
        examples = []
        for index in range(self.sizes[split]):
            colour = rng.choice(COLOURS)
            before = " ".join(rng.choices(FILLER, k=rng.randint(1, 4)))
            after = " ".join(rng.choices(FILLER, k=rng.randint(2, 4)))
            text = f"{before} {colour} {after}"
            start = len(before) + 1
            segments = (own(text), template(" | which colour?"))
            target = colour
            if self.wrong_validation_targets and split == "validation" and index % 2:
                target = rng.choice([other for other in COLOURS if other != colour])
            examples.append(Example(f"{split}-{index}", segments, target, ((start, start + len(colour)),)))
        return examples


def synthetic_nli(size: int = 600, validation_size: int = 60) -> SyntheticNLI:
    return SyntheticNLI(size=size, validation_size=validation_size, test_size=30, seed=0)


def tiny_model_for(
    examples: Sequence[Example], architecture: str = "t5", **overrides: int | float
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A tiny randomly initialised model with a tokenizer trained on the examples and the task prefixes."""
    texts = [PREDICT_PREFIX, EXPLAIN_PREFIX, *(e.source for e in examples), *(e.target for e in examples)]
    tokenizer = train_tokenizer(texts, vocab_size=300, decoder_only=architecture in DECODER_ONLY)
    return build_model(tokenizer, architecture=architecture, size="tiny", **overrides), tokenizer


def quick_config(**changes: object) -> TrainConfig:
    """A few seconds of training on one CPU thread: large learning rate, small batches, no progress bar."""
    settings: dict = {
        "learning_rate": 3e-3,
        "batch_size": 16,
        "eval_batch_size": 32,
        "max_steps": 60,
        "eval_steps": 60,
        "logging_steps": 10,
        "max_input_length": 64,
        "max_target_length": 32,
        "max_new_tokens": 12,
        "training_args": {"disable_tqdm": True},
    }
    settings.update(changes)
    return TrainConfig(**settings)


# transformers' warnings about settings the library makes itself (tests/test_training_logs.py).
SETTINGS_NOISE = ("seem to have been set", "missing keys")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def transformers_messages() -> Iterator[Callable[[], list[str]]]:
    """Gives a function returning everything transformers logged or warned so far inside the block.

    transformers' logger does not propagate to the root logger, so pytest's caplog would not see it.
    """
    handler = _Collect()
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.WARNING)  # whatever an earlier test (or a worker helper) set: warnings must pass
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield lambda: handler.messages + [str(warning.message) for warning in caught]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def settings_noise(messages: Sequence[str]) -> list[str]:
    return [message for message in messages if any(noise in message for noise in SETTINGS_NOISE)]
