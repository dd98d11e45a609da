"""Helpers the benchmark tasks share: staged file look-up and Distilling Step-by-Step's holdout split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import datasets

from tokendistill.data.errors import DataError


def staged_file(data_dir: Path, relative: str, missing_note: str = "") -> Path:
    """``data_dir / relative``, or a ``FileNotFoundError`` that says why the file may be absent.

    A ``data_dir`` that is a file, or a file the layout names that is a folder, is a ``DataError``.
    """
    if Path(data_dir).exists() and not Path(data_dir).is_dir():
        raise DataError(
            data_dir, None, None, "is a file; the data folder must be a folder laid out like ../shared/data"
        )
    path = Path(data_dir) / relative
    if path.is_dir():
        raise DataError(path, None, None, "is a folder, not a data file")
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
