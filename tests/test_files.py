"""Atomic writes: whole or nothing, and never through a file or link planted at the temporary name."""

from __future__ import annotations

import os
import types

import pytest

from tokendistill import files
from tokendistill.files import atomic_writer, temporary_path, write_atomically


@pytest.fixture
def outside(tmp_path):
    """A file outside the folder written to, which a planted link points at."""
    path = tmp_path / "outside" / "precious.txt"
    path.parent.mkdir()
    path.write_text("the user's data")
    return path


def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path, outside):
    target = tmp_path / "out" / "metrics.json"
    target.parent.mkdir()
    temporary_path(target).symlink_to(outside)
    write_atomically(target, b"ours")
    assert outside.read_text() == "the user's data"
    assert target.read_bytes() == b"ours" and not target.is_symlink()
    assert not os.path.lexists(temporary_path(target))


def test_a_link_planted_between_clearing_and_creating_makes_the_write_fail(tmp_path, outside, monkeypatch):
    """The temporary file is created exclusively: if a link appears at its name after the stale one was
    removed, the write fails rather than follow it."""
    target = tmp_path / "metrics.json"

    def planting_open(path, flags, mode=0o777):
        os.symlink(outside, path)  # the race: planted just before the file is created
        return os.open(path, flags, mode)

    monkeypatch.setattr(files, "os", types.SimpleNamespace(**{**vars(os), "open": planting_open}))
    with pytest.raises(FileExistsError):
        write_atomically(target, b"ours")
    assert outside.read_text() == "the user's data"
    assert not target.exists()


def test_a_temporary_file_left_by_a_killed_run_does_not_block_the_next_write(tmp_path):
    target = tmp_path / "shard-00000.jsonl"
    temporary_path(target).write_bytes(b"half a shard from a killed run, and longer than the new one")
    write_atomically(target, b"whole")
    assert target.read_bytes() == b"whole"
    assert not temporary_path(target).exists()


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path, outside):
    target = tmp_path / "predictions.jsonl"
    target.symlink_to(outside)
    write_atomically(target, b"ours")
    assert outside.read_text() == "the user's data"
    assert target.read_bytes() == b"ours" and not target.is_symlink()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "train.jsonl"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"new but unfinished")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert not temporary_path(target).exists()
