"""The runner's dependency logic, with stub stages: what runs, what is skipped, what resumes after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tokendistill.experiment.config import ExperimentConfig, load_config, validate_config
from tokendistill.experiment.plan import STAGE_KINDS, StageSelectionError, build_plan, select_stages
from tokendistill.experiment.runner import MARKER, RESOLVED_CONFIG, StageContext, read_marker, run_plan

BASE = {
    "task": {"name": "synthetic-nli", "options": {"size": 20}},
    "teacher": {"tiny": {"size": "tiny"}, "training": {"max_steps": 2}},
    "attribution": {"method": "saliency", "k": 5},
    "students": {"models": [{"name": "s", "tiny": {}}], "modes": ["standard", "rationale", "random"]},
    "seeds": [0, 1],
    "report": {"heatmap_examples": 2},
}

ALL_STAGES = {
    "teacher",
    "eval/teacher",
    "rationales/saliency-k5",
    "rationales/test-sample",
    *(f"{kind}/s/{variant}/seed{seed}" for kind in ("students", "eval") for seed in (0, 1)
      for variant in ("standard", "rationale-saliency-k5", "random-k5")),
    "report",
}  # fmt: skip


class StubStages:
    """Stage functions that record their calls and write one output file consuming their inputs' outputs."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self.resumed: list[str] = []
        self.fail_on = fail_on

    def __call__(self, ctx: StageContext) -> None:
        self.calls.append(ctx.stage.key)
        ctx.dir.mkdir(parents=True, exist_ok=True)
        checkpoint = ctx.dir / "checkpoint"
        if checkpoint.exists():
            self.resumed.append(ctx.stage.key)
        checkpoint.write_text("partial")
        if ctx.stage.key == self.fail_on:
            self.fail_on = None
            raise KeyboardInterrupt  # what Ctrl-C does in the middle of a stage
        consumed = [(ctx.output_of(key) / "output.txt").read_text() for key in ctx.stage.deps]
        (ctx.dir / "output.txt").write_text(f"{ctx.stage.key} <- {consumed}")

    def implementations(self):
        return dict.fromkeys(STAGE_KINDS, self)


def make_config(tmp_path: Path, **changes) -> ExperimentConfig:
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return validate_config({**data, "output_dir": str(tmp_path / "run")})


def run(config: ExperimentConfig, stubs: StubStages | None = None) -> StubStages:
    stubs = stubs or StubStages()
    run_plan(config, build_plan(config), stubs.implementations(), log=lambda line: None)
    return stubs


def test_first_run_runs_every_stage_once_in_dependency_order(tmp_path):
    config = make_config(tmp_path)
    stubs = run(config)
    assert set(stubs.calls) == ALL_STAGES and len(stubs.calls) == len(ALL_STAGES)
    position = {key: i for i, key in enumerate(stubs.calls)}
    for stage in build_plan(config):
        assert all(position[dep] < position[stage.key] for dep in stage.deps)
        assert read_marker(config.output_dir / stage.key)["status"] == "done"
    assert stubs.calls[-1] == "report"


def test_second_run_skips_everything(tmp_path):
    config = make_config(tmp_path)
    run(config)
    assert run(config).calls == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        # alpha weights the explain task only: standard students, teacher and rationales stay.
        (
            "students__alpha",
            0.3,
            {f"{kind}/s/{v}/seed{s}" for kind in ("students", "eval") for s in (0, 1)
             for v in ("rationale-saliency-k5", "random-k5")} | {"report"},
        ),
        # k changes the rationales, both students that use k words, and the heatmap sample.
        (
            "attribution__k",
            3,
            {"rationales/saliency-k3", "rationales/test-sample", "report"}
            | {f"{kind}/s/{v}/seed{s}" for kind in ("students", "eval") for s in (0, 1)
               for v in ("rationale-saliency-k3", "random-k3")},
        ),
        # The teacher feeds its evaluation, the rationales and the students trained on them.
        (
            "teacher__training__learning_rate",
            1e-3,
            {"teacher", "eval/teacher", "rationales/saliency-k5", "rationales/test-sample", "report"}
            | {f"{kind}/s/rationale-saliency-k5/seed{s}" for kind in ("students", "eval") for s in (0, 1)},
        ),
        # The path length of integrated gradients does not concern saliency: nothing reruns.
        ("attribution__n_steps", 8, set()),
        # The heatmap sample size concerns only the sample and the report.
        ("report__heatmap_examples", 3, {"rationales/test-sample", "report"}),
        # The task changes everything.
        ("task__options", {"size": 21}, ALL_STAGES),
    ],
)  # fmt: skip
def test_changing_one_field_reruns_exactly_its_dependents(tmp_path, field, value, expected):
    run(make_config(tmp_path))
    stubs = run(make_config(tmp_path, **{field: value}))
    assert set(stubs.calls) == expected
    assert len(stubs.calls) == len(expected)


def test_adding_a_seed_runs_only_the_new_seed(tmp_path):
    run(make_config(tmp_path))
    stubs = run(make_config(tmp_path, seeds=[0, 1, 2]))
    assert set(stubs.calls) == {
        f"{kind}/s/{v}/seed2"
        for kind in ("students", "eval")
        for v in ("standard", "rationale-saliency-k5", "random-k5")
    } | {"report"}


def test_interrupted_stage_resumes_and_finished_stages_are_not_redone(tmp_path):
    config = make_config(tmp_path)
    interrupted = "students/s/rationale-saliency-k5/seed1"
    first = StubStages(fail_on=interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(config, first)
    assert read_marker(config.output_dir / interrupted)["status"] == "started"

    second = run(config)
    assert set(second.calls) == ALL_STAGES - set(first.calls) | {interrupted}
    assert second.resumed == [interrupted]  # its folder (checkpoints) was kept


def test_changed_stage_starts_from_an_empty_folder(tmp_path):
    config = make_config(tmp_path)
    run(config)
    stale = config.output_dir / "teacher" / "checkpoint-stale"
    stale.write_text("from the old config")
    stubs = run(make_config(tmp_path, teacher__seed=1))
    assert "teacher" in stubs.calls and stubs.resumed == []
    assert not stale.exists()


def test_resolved_config_is_written_and_reloads_to_the_same_config(tmp_path):
    config = make_config(tmp_path)
    run(config)
    reloaded = load_config(config.output_dir / RESOLVED_CONFIG)
    assert reloaded == config
    marker = read_marker(config.output_dir / "students/s/random-k5/seed0")
    assert marker["inputs"]["alpha"] == 0.5 and marker["inputs"]["k"] == 5 and marker["inputs"]["seed"] == 0


KILL_SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from tokendistill.experiment.config import load_config
from tokendistill.experiment.plan import STAGE_KINDS, StageSelectionError, build_plan, select_stages
from tokendistill.experiment.runner import run_plan

config_path, kill_at, log, jobs = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])

def stage(ctx):
    with log.open("a") as stream:
        stream.write(ctx.stage.key + "\\n")
    ctx.dir.mkdir(parents=True, exist_ok=True)
    if ctx.stage.key == kill_at and not (ctx.dir / "checkpoint").exists():
        (ctx.dir / "checkpoint").write_text("partial")
        if jobs == 1:
            os.kill(os.getpid(), signal.SIGKILL)  # the runner itself dies in the middle of the stage
        (ctx.dir / "worker.pid").write_text(str(os.getpid()))
        os.kill(os.getppid(), signal.SIGKILL)  # the runner dies while this worker is busy...
        time.sleep(60)  # ...and this worker must not live on and keep writing
    time.sleep(0.05 * (jobs - 1))
    (ctx.dir / "output.txt").write_text(ctx.stage.key)

if __name__ == "__main__":
    config = load_config(config_path)
    run_plan(config, build_plan(config), dict.fromkeys(STAGE_KINDS, stage), jobs=jobs, log=lambda line: None)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has exited, it only waits to be reaped


@pytest.mark.slow  # each run is a fresh interpreter importing the runner (and torch, via its atomic writes)
@pytest.mark.parametrize(
    ("kill_at", "jobs"),
    [("teacher", 1), ("eval/s/random-k5/seed0", 1), ("report", 1), ("students/s/standard/seed0", 2)],
)
def test_killed_run_completes_on_rerun_without_redoing_finished_stages(tmp_path, kill_at, jobs):
    """A real SIGKILL of the runner in the middle of a stage; the rerun redoes only unfinished stages."""
    import yaml

    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump({**BASE, "output_dir": str(tmp_path / "run")}))
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    log = tmp_path / "calls.log"
    command = [sys.executable, str(script), str(config_path), kill_at, str(log), str(jobs)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run_dir = tmp_path / "run"

    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert first.returncode == -9, first.stderr
    before = log.read_text().split()
    assert kill_at in before and (jobs > 1 or before[-1] == kill_at)
    if jobs > 1:
        worker = int((run_dir / kill_at / "worker.pid").read_text())
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), "a worker outlived the killed runner"
    finished = {key for key in ALL_STAGES if (read_marker(run_dir / key) or {}).get("status") == "done"}
    assert kill_at not in finished

    second = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert second.returncode == 0, second.stderr
    after = log.read_text().split()[len(before) :]
    assert sorted(after) == sorted(ALL_STAGES - finished)  # each unfinished stage once, no finished one
    assert all(
        (run_dir / key / MARKER).is_file() and (run_dir / key / "output.txt").is_file() for key in ALL_STAGES
    )


def timed_stage(ctx: StageContext) -> None:
    """A stub for worker processes: records when it ran, takes a moment, fails where ``fail.json`` (next to
    the run folder) says."""
    import time

    ctx.dir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    fail = ctx.run_dir.parent / "fail.json"
    if fail.is_file() and ctx.stage.key in json.loads(fail.read_text()):
        raise RuntimeError(f"stage {ctx.stage.key} failed on purpose")
    time.sleep(0.2)
    (ctx.dir / "times.json").write_text(json.dumps([start, time.time()]))


@pytest.mark.slow  # worker processes start fresh interpreters
def test_parallel_jobs_respect_dependencies_and_overlap(tmp_path):
    config = make_config(tmp_path)
    result = run_plan(config, build_plan(config), dict.fromkeys(STAGE_KINDS, timed_stage), jobs=2, log=print)
    assert set(result.ran) == ALL_STAGES
    times = {key: json.loads((config.output_dir / key / "times.json").read_text()) for key in ALL_STAGES}
    for stage in build_plan(config):
        assert all(times[dep][1] <= times[stage.key][0] for dep in stage.deps), stage.key
    overlapping = [
        (a, b)
        for a in times
        for b in times
        if a < b and times[a][0] < times[b][1] and times[b][0] < times[a][1]
    ]
    assert overlapping  # two workers did run stages at the same time
    assert run(config).calls == []


@pytest.mark.slow
def test_parallel_failure_stops_dependents_and_keeps_finished_work(tmp_path):
    failing = "rationales/saliency-k5"
    (tmp_path / "fail.json").write_text(json.dumps([failing]))
    config = make_config(tmp_path)
    with pytest.raises(RuntimeError, match="failed on purpose"):
        run_plan(config, build_plan(config), dict.fromkeys(STAGE_KINDS, timed_stage), jobs=2, log=print)
    assert read_marker(config.output_dir / failing)["status"] == "started"
    assert read_marker(config.output_dir / "teacher")["status"] == "done"
    dependents = [s.key for s in build_plan(config) if failing in s.deps]
    assert dependents and not any((config.output_dir / key).exists() for key in dependents)


def test_only_runs_the_chosen_stages_and_what_they_consume(tmp_path):
    config = make_config(tmp_path)
    plan = build_plan(config)
    stubs = StubStages()
    run_plan(config, select_stages(plan, ["eval/teacher"]), stubs.implementations(), log=lambda line: None)
    assert stubs.calls == ["teacher", "eval/teacher"]
    chosen = select_stages(plan, ["eval/s/rationale-saliency-k5/seed0", "students/s/standard/*"])
    assert [stage.key for stage in chosen] == [
        "teacher",
        "rationales/saliency-k5",
        "students/s/standard/seed0",
        "students/s/standard/seed1",
        "students/s/rationale-saliency-k5/seed0",
        "eval/s/rationale-saliency-k5/seed0",
    ]
    # The rest of the run later finds the chosen stages done.
    assert set(run(config).calls) == ALL_STAGES - {"teacher", "eval/teacher"}
    with pytest.raises(StageSelectionError, match="'student/\\*' matches no stage"):
        select_stages(plan, ["student/*"])


def test_only_on_the_command_line_limits_status_and_names_a_bad_pattern(tmp_path, capsys):
    from tokendistill.cli import main

    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({**BASE, "output_dir": str(tmp_path / "run")}))
    assert main(["run", str(path), "--only", "eval/teacher", "--status"]) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()] == ["teacher", "eval/teacher"]
    assert main(["run", str(path), "--only", "nothing/*", "--status"]) == 2
    assert "--only 'nothing/*' matches no stage" in capsys.readouterr().err


def test_stale_rationale_shards_under_the_runner_say_how_to_resume_or_start_over(tmp_path):
    """A rationale stage whose fingerprint matched but whose shards were made with other versions: the
    runner has no --overwrite, so the one-line error names the stage folder to delete instead."""
    from tokendistill.attribution.sharding import shards_dir_for
    from tokendistill.errors import TokendistillError
    from tokendistill.experiment.plan import RATIONALE_FILE
    from tokendistill.experiment.stages import rationales_stage

    config = make_config(tmp_path)
    (stage,) = (stage for stage in build_plan(config) if stage.key == "rationales/saliency-k5")
    ctx = StageContext(config, stage, config.output_dir)
    shards = shards_dir_for(ctx.dir / RATIONALE_FILE)
    shards.mkdir(parents=True)
    (shards / "manifest.json").write_text(json.dumps({"stage_format": 1}))
    (shards / "shard-000000.jsonl").write_text("")
    with pytest.raises(TokendistillError) as caught:
        rationales_stage(ctx)
    message = str(caught.value)
    assert "stage_format: 1 -> " in message
    assert message.endswith(f"to start the stage over, delete {ctx.dir} and run again")
    assert (shards / "shard-000000.jsonl").exists()  # nothing was deleted for the user


def test_every_stage_holds_the_parameters_its_kind_reads(tmp_path):
    from tokendistill.experiment.plan import EvaluateParams, RationaleParams, StudentParams

    expected = {"rationales": RationaleParams, "sample-rationales": RationaleParams, "student": StudentParams}
    plan = build_plan(make_config(tmp_path))
    by_key = {stage.key: stage for stage in plan}
    for stage in plan:
        if stage.kind == "evaluate":
            evaluated = stage.params_as(EvaluateParams).model_stage
            assert stage.deps == (evaluated,) and by_key[evaluated].kind in ("teacher", "student")
        elif stage.kind in expected:
            stage.params_as(expected[stage.kind])
        else:
            assert stage.params is None, stage.key
    student = by_key["students/s/random-k5/seed1"].params_as(StudentParams)
    assert (student.student, student.variant.mode, student.variant.k, student.seed) == ("s", "random", 5, 1)
    with pytest.raises(TypeError, match="not StudentParams"):
        by_key["rationales/saliency-k5"].params_as(StudentParams)
