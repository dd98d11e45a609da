"""Helpers the benchmark tasks share: staged file look-up and Distilling Step-by-Step's holdout split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import datasets


def staged_file(data_dir: Path, relative: str, missing_note: str = "") -> Path:
    """``data_dir / relative``, or a ``FileNotFoundError`` that says why the file may be absent."""
    path = Path(data_dir) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found" + (f": {missing_note}" if missing_note else ""))
    return path


def dss_holdout(ids: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a training set without a validation split 90/10, exactly as DSS's run.py does.

    DSS calls ``Dataset.train_test_split(test_size=0.1, seed=0)`` on its training set; the split depends
    only on row positions, so calling it on the ids in DSS's row order gives the same rows, in the same
    order. Returns (train ids, validation ids).
    """
    parts = datasets.Dataset.from_dict({"id": list(ids)}).train_test_split(test_size=0.1, seed=0)
    return parts["train"].to_dict()["id"], parts["test"].to_dict()["id"]
