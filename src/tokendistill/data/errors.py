"""Errors for bad input data and bad task requests, always naming where the problem is."""

from __future__ import annotations

from pathlib import Path

from tokendistill.errors import TokendistillError


class DataError(TokendistillError, ValueError):
    """Raised when an input row cannot be used. The message names the file, line and field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str) -> None:
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")


class TaskError(TokendistillError, ValueError):
    """A task cannot do what was asked: an unknown option or split, a split without a file, too few rows."""


class TaskOptionError(TaskError):
    """An option the task does not take (``option`` names it) or a required one that is missing (``None``)."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class UnknownTaskError(TaskError, KeyError):
    """No task (or no task with the asked-for data, such as PaLM rationales) has this name."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""
