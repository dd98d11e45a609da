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

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    """Where ``atomic_writer`` puts the bytes of ``path`` before the rename."""
    return path.with_name(path.name + TEMPORARY_SUFFIX)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for writing so that a crash at any moment leaves either no file or the whole file.

    The bytes go to ``<path>.tmp`` and are flushed to disk before the rename into place. The temporary file
    is always created fresh (``O_EXCL``), so whatever sits at its name is never written through, not even a
    planted symbolic link: a leftover from a killed run (file or link) is unlinked first, which removes the
    link itself, not its target. Should something reappear there in between, the write fails instead. On an
    exception nothing is renamed and the temporary file is removed.
    """
    temporary = temporary_path(path)
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never follows a link
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``atomic_writer``."""
    with atomic_writer(path) as handle:
        handle.write(data)
