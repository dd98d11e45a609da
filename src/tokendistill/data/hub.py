"""Rows of a Hugging Face Hub dataset split, carrying the same source/line information as file rows."""

from __future__ import annotations

from collections.abc import Iterator

import datasets

from tokendistill.data.io import Row


def hub_rows(dataset_id: str, split: str, config: str | None = None) -> Iterator[Row]:
    """Download (or reuse the cached) ``dataset_id`` split ``split`` and yield its records as rows.

    A row's ``line`` is its 1-based position in the split, so an error names ``dataset_id/split:N``.
    """
    dataset = datasets.load_dataset(dataset_id, config, split=split)
    source = f"{dataset_id}/{split}" if config is None else f"{dataset_id}:{config}/{split}"
    for index, record in enumerate(dataset):
        yield Row(source, index + 1, record)
