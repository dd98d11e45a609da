"""A run killed after a checkpoint and resumed ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file
from transformers import TrainerCallback

from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from training_helpers import ColourTask, quick_config


class Killed(RuntimeError):
    pass


class KillAfterCheckpoint(TrainerCallback):
    """Stands in for a crash: raises once the checkpoint of ``step`` is on disk."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Killed(f"killed after the checkpoint of step {self.step}")


class StepRecorder(TrainerCallback):
    """The global step when training begins and after each optimizer step this session runs."""

    def __init__(self) -> None:
        self.start: int | None = None
        self.steps: list[int] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = state.global_step

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def log_history(run_dir):
    return json.loads((run_dir / "trainer_state.json").read_text())["log_history"]


def step_logs(run_dir):
    """Losses and validation metrics of every logged step, without timings. The end-of-run summary is left
    out: its ``train_loss`` averages only the steps the last session ran."""
    return [
        {k: v for k, v in entry.items() if "runtime" not in k and "per_second" not in k}
        for entry in log_history(run_dir)
        if "train_loss" not in entry
    ]


@pytest.mark.parametrize("architecture", ["t5", "llama"])
def test_killed_and_resumed_run_matches_uninterrupted_run(tmp_path, architecture):
    task = ColourTask()
    tiny_dir = build_tiny_for_task(task, tmp_path / "tiny", vocab_size=300, architecture=architecture)
    # Linear decay over all 8 steps, so a resumed run must restore the schedule as well as the weights.
    config = quick_config(max_steps=8, eval_steps=4, batch_size=8, logging_steps=2)
    options = {"mode": "random", "k": 2, "config": config}

    full = train_student(tiny_dir, task, tmp_path / "full", **options)
    killed_dir = tmp_path / "killed"
    before_kill = StepRecorder()
    with pytest.raises(Killed):
        train_student(tiny_dir, task, killed_dir, callbacks=[before_kill, KillAfterCheckpoint(4)], **options)
    assert (before_kill.start, before_kill.steps) == (0, [1, 2, 3, 4])
    assert sorted(p.name for p in killed_dir.glob("checkpoint-*")) == ["checkpoint-4"]
    with pytest.raises(FileExistsError, match="already holds checkpoints"):
        train_student(tiny_dir, task, killed_dir, **options)
    after_resume = StepRecorder()
    resumed = train_student(tiny_dir, task, killed_dir, resume=True, callbacks=[after_resume], **options)

    # The resumed session starts at the saved step and runs only the steps the killed one had not: a retrain
    # from scratch is deterministic too and would end with the same weights and logs.
    assert (after_resume.start, after_resume.steps) == (4, [5, 6, 7, 8])
    assert resumed.global_step == full.global_step == 8
    assert resumed.validation_accuracy == full.validation_accuracy
    assert resumed.best_checkpoint == full.best_checkpoint
    for name in ("checkpoint-8/model.safetensors", "model.safetensors"):
        expected, actual = load_file(tmp_path / "full" / name), load_file(killed_dir / name)
        assert expected.keys() == actual.keys()
        for key in expected:
            assert expected[key].equal(actual[key]), f"{name}: {key} differs"
    # Same losses and validation metrics at every logged step (the resumed log continues the killed one).
    logs = step_logs(killed_dir)
    assert logs == step_logs(tmp_path / "full")
    assert [entry["step"] for entry in logs if "eval_accuracy" in entry] == [4, 8]
    assert {"label_loss", "rationale_loss"} <= logs[0].keys()
