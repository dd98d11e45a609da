"""Runs a plan stage by stage, skipping stages that are done and up to date and resuming interrupted ones.

Each stage folder holds a small marker, ``.stage.json``, written atomically: ``started`` with the stage's
fingerprint before it runs, ``done`` after. The fingerprint hashes the stage's config inputs and the
fingerprints of the stages it consumes, so a change to one field reruns exactly the stages downstream of it.
A stage found ``started`` with the same fingerprint was interrupted: its folder is kept so it resumes from
its own checkpoints (Trainer checkpoints, rationale shards). A stage whose fingerprint changed starts from an
empty folder, so stale checkpoints from another config are never resumed.

The marker is also how the runner knows a folder is its own: it empties only folders that carry one. A stage
folder that exists without a marker is adopted when empty and otherwise refused before any stage runs
(``RunFolderError``), so files a user keeps under ``output_dir`` are never deleted (issue 11).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tokendistill.data.errors import DataError
from tokendistill.experiment.config import ExperimentConfig, check_machine, config_to_yaml
from tokendistill.experiment.plan import Stage, StageKind
from tokendistill.experiment.scheduler import Work, run_graph
from tokendistill.files import temporary_path, write_atomically

MARKER = ".stage.json"
_MARKER_TEMPORARY = temporary_path(Path(MARKER)).name  # what a run killed while writing the marker leaves
RESOLVED_CONFIG = "resolved.yaml"


@dataclass(frozen=True)
class StageContext:
    """What a stage implementation gets: the config, its stage, and where it and its inputs live."""

    config: ExperimentConfig
    stage: Stage
    run_dir: Path

    @property
    def dir(self) -> Path:
        return self.run_dir / self.stage.key

    def output_of(self, key: str) -> Path:
        """The folder of a stage this one consumes."""
        if key not in self.stage.deps:
            raise KeyError(f"stage {self.stage.key!r} does not consume {key!r}")
        return self.run_dir / key


StageFunction = Callable[[StageContext], None]


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def fingerprint(stage: Stage, dep_fingerprints: Mapping[str, str]) -> str:
    """SHA-256 of the stage's kind, config inputs and the fingerprints of the stages it consumes."""
    payload = {
        "kind": stage.kind,
        "inputs": stage.inputs,
        "deps": {key: dep_fingerprints[key] for key in stage.deps},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_marker(stage_dir: Path, record: Mapping[str, Any]) -> None:
    """Write the stage's marker atomically: a reader sees the old marker or the new one, never half of one."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(stage_dir / MARKER, json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))


class RunFolderError(DataError):
    """A folder where the runner must write holds something it did not make; the message says what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(path, None, None, problem)


def read_marker(stage_dir: Path) -> dict[str, Any] | None:
    path = stage_dir / MARKER
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        marker = None
    if not isinstance(marker, dict) or not {"fingerprint", "status"} <= marker.keys():
        raise RunFolderError(path, "not a stage marker written by tokendistill; move the folder away")
    return marker


def plan_fingerprints(plan: list[Stage]) -> dict[str, str]:
    """Every stage's fingerprint; raises if a stage comes before a stage it consumes."""
    fingerprints: dict[str, str] = {}
    for stage in plan:
        missing = [key for key in stage.deps if key not in fingerprints]
        if missing:
            raise ValueError(f"stage {stage.key!r} comes before the stages it consumes: {missing}")
        fingerprints[stage.key] = fingerprint(stage, fingerprints)
    return fingerprints


StageStatus = Literal["done", "interrupted", "outdated", "new"]


def stage_status(stage_dir: Path, current: str) -> StageStatus:
    """``done``: finished with this fingerprint; ``interrupted``: started with it (resumes); ``outdated``:
    made with another config (reruns from scratch); ``new``: never started."""
    marker = read_marker(stage_dir)
    if marker is None:
        return "new"
    if marker["fingerprint"] != current:
        return "outdated"
    return "done" if marker["status"] == "done" else "interrupted"


def check_stage_dir(stage_dir: Path) -> None:
    """Refuse a stage folder the runner did not make: one without a marker that holds anything (a
    marker's temporary file left by a kill aside). An empty one is adopted."""
    if read_marker(stage_dir) is not None or not (stage_dir.exists() or stage_dir.is_symlink()):
        return
    advice = "move it away or choose another output_dir; a run empties only the stage folders it made"
    if not stage_dir.is_dir():
        raise RunFolderError(
            stage_dir, f"is in the way of a stage folder and was not made by a run; {advice}"
        )
    foreign = sorted(entry.name for entry in stage_dir.iterdir() if entry.name != _MARKER_TEMPORARY)
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise RunFolderError(
            stage_dir, f"holds files a run did not write ({shown}; no {MARKER} marker): {advice}"
        )


def clear_stage_dir(stage_dir: Path) -> None:
    """Empty a folder the runner made (it carries a marker), keeping the marker for last: a run killed
    half-way still owns the folder and empties it again."""
    if read_marker(stage_dir) is None:
        raise RunFolderError(stage_dir, f"refusing to empty a folder without a {MARKER} marker")
    for entry in stage_dir.iterdir():
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _execute(implementation: StageFunction, config: ExperimentConfig, stage: Stage, run_dir: Path) -> None:
    implementation(StageContext(config, stage, run_dir))


def run_plan(
    config: ExperimentConfig,
    plan: list[Stage],
    implementations: Mapping[StageKind, StageFunction],
    *,
    jobs: int = 1,
    worker_init: Callable[[], None] | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Bring every stage of ``plan`` up to date under ``config.output_dir``.

    With ``jobs > 1`` up to that many stages whose inputs are ready run at once, each in its own worker
    process (started fresh, then ``worker_init``; implementations must be importable functions). If a stage
    fails, no new stage starts, the running ones finish, and the error is raised.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    run_dir = config.output_dir
    fingerprints = plan_fingerprints(plan)
    # Whatever would stop a stage later is refused now, before anything is written.
    check_machine(config)
    for stage in plan:
        check_stage_dir(run_dir / stage.key)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(run_dir / RESOLVED_CONFIG, config_to_yaml(config).encode("utf-8"))
    label = {stage.key: f"[{i}/{len(plan)}] {stage.key}" for i, stage in enumerate(plan, start=1)}
    result, pending = RunResult(), []
    for stage in plan:
        if stage_status(run_dir / stage.key, fingerprints[stage.key]) == "done":
            log(f"{label[stage.key]}: up to date, skipped")
            result.skipped.append(stage.key)
        else:
            pending.append(stage)

    stages = {stage.key: stage for stage in pending}
    records: dict[str, dict[str, Any]] = {}  # the marker of each running stage, with its start time

    def start(unit: Work) -> None:
        current, stage_dir = fingerprints[unit.key], run_dir / unit.key
        status = stage_status(stage_dir, current)
        if status == "outdated":
            clear_stage_dir(stage_dir)
        else:
            check_stage_dir(stage_dir)  # again: the folder may have changed since the run started
        log(f"{label[unit.key]}: {'resuming' if status == 'interrupted' else 'running'}")
        stage = stages[unit.key]
        record = {"stage": stage.key, "kind": stage.kind, "fingerprint": current, "inputs": stage.inputs}
        record["deps"] = {key: fingerprints[key] for key in stage.deps}
        write_marker(stage_dir, {**record, "status": "started"})
        records[unit.key] = {**record, "started": time.perf_counter()}

    def finish(unit: Work, _: None) -> None:
        record = records.pop(unit.key)
        seconds = round(time.perf_counter() - record.pop("started"), 3)
        write_marker(run_dir / unit.key, {**record, "status": "done", "seconds": seconds})
        log(f"{label[unit.key]}: done in {seconds:.1f}s")
        result.ran.append(unit.key)

    run_graph(
        [Work(s.key, s.deps, _execute, (implementations[s.kind], config, s, run_dir)) for s in pending],
        jobs=jobs,
        finished=result.skipped,
        worker_init=worker_init,
        before=start,
        after=finish,
        failed=lambda unit, error: log(f"{label[unit.key]}: failed: {error!r}"),
    )
    return result
