"""Files written whole or not at all, so that a job killed at any moment never leaves a half-written result.

Every stage's outputs (shards, predictions, metrics, stage markers) go through here. It imports nothing
heavy, so the light parts of the package (the runner, the report) can use it without loading torch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for writing so that a crash at any moment leaves either no file or the whole file.

    The bytes go to ``<path>.tmp`` and are flushed to disk before the rename into place; a temporary file
    left by a killed run is simply overwritten by the next attempt. On an exception nothing is renamed.
    """
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_writer``."""
    with atomic_writer(path) as handle:
        handle.write(data)
