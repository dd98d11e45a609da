"""The task as an experiment sees it: staged splits mapped to the train/validation/test roles.

The training, attribution and evaluation stages always ask for ``train``, ``validation`` and ``test``. An
experiment may train on another staged split (ANLI R1 and e-SNLI have no staged training inputs, so the
local configs train on their validation files), hold out part of the training split for model selection,
and cap the number of examples. Doing this once here means every stage sees exactly the same examples.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from tokendistill.data.errors import TaskError
from tokendistill.data.example import Example
from tokendistill.data.tasks import get_task
from tokendistill.data.tasks.base import Task, check_split
from tokendistill.experiment.config import TaskConfig


def _holdout_rank(example: Example) -> bytes:
    # A hash of the id, not a shuffle: which examples are held out does not depend on order or count.
    return hashlib.blake2b(example.id.encode("utf-8"), digest_size=8).digest()


def split_holdout(examples: list[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """(kept, held out): ``round(fraction * n)`` examples (at least one) chosen by id hash, order kept."""
    n_held = max(1, round(fraction * len(examples)))
    held = {id(example) for example in sorted(examples, key=_holdout_rank)[:n_held]}
    return [e for e in examples if id(e) not in held], [e for e in examples if id(e) in held]


class ExperimentTask(Task):
    """A registered task whose ``train``/``validation``/``test`` are the roles given by a ``TaskConfig``.

    The ``data_dir`` argument of ``load`` is ignored: the config says where the data is.
    ``train_examples`` keeps only the first examples of the training role (a student's smaller training
    set: a prefix, so rationales written for the larger set serve it).
    """

    def __init__(self, config: TaskConfig, train_examples: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.train_examples = train_examples
        self.inner = get_task(config.name, **config.options)
        self.name = self.inner.name
        self.labels = self.inner.labels

    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        check_split(split)
        config = self.config
        if split == "test":
            return self._load(config.test_split, skip_bad_rows)[: config.max_eval_examples]
        if split == "validation" and config.validation_split is not None:
            return self._load(config.validation_split, skip_bad_rows)[: config.max_eval_examples]
        train = self._load(config.train_split, skip_bad_rows)
        if config.validation_split is None:
            train, held_out = split_holdout(train, config.validation_fraction)
            if split == "validation":
                return held_out[: config.max_eval_examples]
        train = train[: config.max_train_examples]
        if self.train_examples is not None and self.train_examples > len(train):
            raise TaskError(
                f"{self.name}: students are asked to train on {self.train_examples} examples, but the "
                f"training split ({config.train_split}) has {len(train)}: lower students.train_examples or "
                "sweeps.train_examples"
            )
        return train[: self.train_examples]

    def _load(self, split: str, skip_bad_rows: bool) -> list[Example]:
        examples = self.inner.load(split, self.config.data_dir, skip_bad_rows=skip_bad_rows)
        self.last_skipped = self.inner.last_skipped
        return examples

    def is_correct(self, prediction: str, example: Example) -> bool:
        return self.inner.is_correct(prediction, example)
