"""Errors for bad input data, always naming where the problem is."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Raised when an input row cannot be used. The message names the file, line and field."""

    def __init__(self, path: str | Path, line: int | None, field: str | None, problem: str) -> None:
        self.path, self.line, self.field, self.problem = str(path), line, field, problem
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{what} {problem}")
