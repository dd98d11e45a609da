"""The task interface and registry: what every benchmark, synthetic or user task provides."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from tokendistill.data.errors import TaskError, TaskOptionError, UnknownTaskError
from tokendistill.data.example import Example
from tokendistill.errors import TokendistillError

SPLITS = ("train", "validation", "test")


class Task(ABC):
    """A dataset turned into seq2seq examples plus the metric that scores predictions.

    ``load`` reads a split either from the Hugging Face Hub (``data_dir=None``) or from a local folder laid
    out like the project's shared data folder. ``skip_bad_rows`` turns a bad row from an error into a skip;
    the number skipped is kept in ``last_skipped`` and reported by the caller.
    """

    name: ClassVar[str]
    labels: ClassVar[tuple[str, ...] | None] = None  # closed label set, None for free-form targets

    def __init__(self) -> None:
        self.last_skipped = 0

    @abstractmethod
    def load(self, split: str, data_dir: Path | None = None, *, skip_bad_rows: bool = False) -> list[Example]:
        """Return the examples of ``split`` (one of ``SPLITS``)."""

    def is_correct(self, prediction: str, example: Example) -> bool:
        """Exact match after stripping whitespace; tasks with another metric override this."""
        return prediction.strip() == example.target.strip()


def check_split(split: str) -> None:
    """Raise a clear error for a split name outside ``SPLITS``."""
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


_REGISTRY: dict[str, type[Task]] = {}


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator adding a task to the registry under ``name``."""

    def decorate(cls: type[Task]) -> type[Task]:
        if name in _REGISTRY:
            raise ValueError(f"task {name!r} is registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def task_class(name: str) -> type[Task]:
    """The class registered as ``name`` (its ``labels`` and docstring describe it without building it)."""
    if name not in _REGISTRY:
        raise UnknownTaskError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _REGISTRY[name]


def get_task(name: str, **options: object) -> Task:
    """Build the task called ``name``; ``options`` go to its constructor (e.g. field names for ``jsonl``).

    An unknown or missing option, or a value the constructor rejects, raises ``TaskError`` naming the task
    and, for an unknown option, the options it takes.
    """
    cls = task_class(name)
    check_task_options(cls, options)
    try:
        return cls(**options)
    except TokendistillError:  # already names what is wrong (a data file, an option)
        raise
    except (TypeError, ValueError) as error:  # a value of the wrong type or out of range
        raise TaskError(f"task {name!r}: {error}") from error


def check_task_options(cls: type[Task], options: dict[str, object]) -> None:
    """Raise ``TaskOptionError`` for an option ``cls`` does not take or a required one that is missing."""
    parameters = inspect.signature(cls).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return
    named = {p.name: p for p in parameters if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    unknown = [key for key in options if key not in named]
    if unknown:
        takes = f"its options are {', '.join(named)}" if named else "it takes no options"
        raise TaskOptionError(
            f"task {cls.name!r} has no option {', '.join(map(repr, unknown))}; {takes}", unknown[0]
        )
    missing = [key for key, p in named.items() if p.default is p.empty and key not in options]
    if missing:
        raise TaskOptionError(f"task {cls.name!r} needs option(s) {', '.join(missing)}")
