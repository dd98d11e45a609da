"""Resumable sharded output for a long per-example job: shard plan, run manifest, merge.

A job's output file ``out.jsonl`` is built in ``out.jsonl.shards/``: one file per fixed run of examples,
each written to a temporary name and renamed into place, so a shard file is either absent or complete.
A restarted job skips the shards already there and merges them in example order at the end. The
manifest records the settings the shards were made with; shards of other settings are never mixed in.
Once merged, the shard folder is removed and ``out.jsonl.done.json`` records the settings and the output's
hash, so that running the same job again finds its output finished instead of recomputing it, and so that
a reader can tell the output was changed since (``check_unchanged``). Nothing here knows what a record is,
so the same machinery serves any per-example stage.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokendistill.data.errors import DataError
from tokendistill.errors import TokendistillError
from tokendistill.files import TEMPORARY_SUFFIX, atomic_writer, write_atomically

MANIFEST_NAME = "manifest.json"


class StaleShardsError(TokendistillError):
    """The shard folder holds shards made with other settings than the current run's.

    ``problem`` says what differs; the message adds the remedy of a caller that can start over
    (``overwrite``), which a caller with another remedy replaces.
    """

    def __init__(self, shards_dir: Path, problem: str) -> None:
        super().__init__(
            f"{shards_dir} {problem}; rerun with the same settings to resume, "
            "or start over with overwrite=True (--overwrite)"
        )
        self.shards_dir = shards_dir
        self.problem = problem


@dataclass(frozen=True)
class Shard:
    """Examples ``start:stop`` of the job, stored at ``path`` once computed."""

    index: int
    start: int
    stop: int
    path: Path

    def is_done(self) -> bool:
        return self.path.is_file()


def shards_dir_for(output_path: Path) -> Path:
    """The shard folder next to the final output: ``out.jsonl`` -> ``out.jsonl.shards``."""
    return output_path.with_name(output_path.name + ".shards")


def plan_shards(n_examples: int, shard_size: int, shards_dir: Path) -> list[Shard]:
    """Cut ``n_examples`` into consecutive shards of ``shard_size`` (the last one may be shorter)."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    return [
        Shard(index, start, min(start + shard_size, n_examples), shards_dir / f"shard-{index:06d}.jsonl")
        for index, start in enumerate(range(0, n_examples, shard_size))
    ]


def shards_of_process(shards: Iterable[Shard], process_index: int, num_processes: int) -> list[Shard]:
    """The shards process ``process_index`` of ``num_processes`` computes: shard i goes to process i % n.

    Assigning whole shards (not examples) keeps every shard's batches the same whatever the number of
    processes, which is what makes a multi-process run's output equal a single-process one.
    """
    return [shard for shard in shards if shard.index % num_processes == process_index]


def _describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    changes = [
        f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return "; ".join(changes)


def read_manifest(shards_dir: Path) -> dict[str, Any] | None:
    """The settings recorded in ``shards_dir``, or None when the folder holds no manifest."""
    path = shards_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def check_manifest(shards_dir: Path, settings: Mapping[str, Any]) -> None:
    """Raise ``StaleShardsError`` when ``shards_dir`` was started with settings other than ``settings``.

    ``settings`` must be JSON-compatible; it is compared after a JSON round trip, as it is stored.
    """
    recorded = read_manifest(shards_dir)
    if recorded is None:
        if shards_dir.is_dir() and any(shards_dir.glob("shard-*.jsonl")):
            problem = f"holds shards but no {MANIFEST_NAME}, so their settings are unknown"
            raise StaleShardsError(shards_dir, problem)
        return
    wanted = json.loads(json.dumps(settings))
    if recorded != wanted:
        changes = _describe_changes(recorded, wanted)
        raise StaleShardsError(shards_dir, f"holds shards of a run with other settings ({changes})")


def remove_shards_dir(shards_dir: Path) -> None:
    """Delete a shard folder, refusing one that holds anything a job does not write there (its manifest,
    shard files and their temporaries): a folder that merely shares the name is never emptied."""
    if not shards_dir.exists() and not shards_dir.is_symlink():
        return
    if shards_dir.is_symlink() or not shards_dir.is_dir():
        raise DataError(shards_dir, None, None, "is in the way of a shard folder; move it away")
    ours = re.compile(rf"^(shard-\d{{6}}\.jsonl|{re.escape(MANIFEST_NAME)})({re.escape(TEMPORARY_SUFFIX)})?$")
    foreign = sorted(entry.name for entry in shards_dir.iterdir() if not ours.match(entry.name))
    if foreign:
        problem = f"holds files no job wrote there ({', '.join(foreign[:3])}); move them away, then rerun"
        raise DataError(shards_dir, None, None, problem)
    shutil.rmtree(shards_dir)


def prepare_shards_dir(shards_dir: Path, settings: Mapping[str, Any], *, overwrite: bool) -> None:
    """Create ``shards_dir`` with its manifest, or keep an existing one made with the same settings.

    With ``overwrite`` any earlier shards are deleted first. Call it from one process only.
    """
    if overwrite:
        remove_shards_dir(shards_dir)
    check_manifest(shards_dir, settings)
    shards_dir.mkdir(parents=True, exist_ok=True)
    if read_manifest(shards_dir) is None:
        text = json.dumps(settings, indent=2, sort_keys=True) + "\n"
        write_atomically(shards_dir / MANIFEST_NAME, text.encode("utf-8"))


def merge_shards(shards: Iterable[Shard], output_path: Path) -> None:
    """Concatenate the shard files in order into ``output_path``, atomically and without loading them all."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(output_path) as out:
        for shard in shards:
            with open(shard.path, "rb") as part:
                shutil.copyfileobj(part, out)


def finished_marker_for(output_path: Path) -> Path:
    """Where a merged output records how it was made: ``out.jsonl`` -> ``out.jsonl.done.json``."""
    return output_path.with_name(output_path.name + ".done.json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def mark_finished(output_path: Path, settings: Mapping[str, Any]) -> None:
    """Record that ``output_path`` is the whole output of a job with ``settings`` (after the merge)."""
    record = {"settings": settings, "output_sha256": _sha256(output_path)}
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    write_atomically(finished_marker_for(output_path), text.encode("utf-8"))


def is_finished(output_path: Path, settings: Mapping[str, Any]) -> bool:
    """True when ``output_path`` was merged by a job with exactly ``settings`` and is unchanged since."""
    marker = finished_marker_for(output_path)
    if not (marker.is_file() and output_path.is_file()):
        return False
    record = json.loads(marker.read_text(encoding="utf-8"))
    current = json.loads(json.dumps(settings))  # the JSON form, as recorded
    return record.get("settings") == current and record.get("output_sha256") == _sha256(output_path)


def check_unchanged(output_path: Path) -> None:
    """``DataError`` when ``output_path`` no longer has the bytes its ``.done.json`` records (a hand edit).

    Nothing to check when there is no ``.done.json`` (an output not written by a job).
    """
    marker = finished_marker_for(output_path)
    if not marker.is_file():
        return
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))["output_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        problem = f"unreadable ({error!r}); regenerate {output_path}"
        raise DataError(marker, None, "output_sha256", problem) from error
    actual = _sha256(output_path)
    if actual != recorded:
        raise DataError(
            output_path,
            None,
            None,
            f"sha256 {actual[:16]}... differs from the output_sha256 {str(recorded)[:16]}... recorded in "
            f"{marker}: the file was changed after it was written. Regenerate it, or, to use the changed "
            f"file as it is, delete {marker.name}",
        )
