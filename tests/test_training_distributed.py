"""Data-parallel training over two CPU processes (gloo) through the CLI, as a user launches it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokendistill.cli import main
from tokendistill.data.tasks import get_task
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.manifest import read_manifest
from training_helpers import ColourTask


def write_colour_task(folder: Path) -> dict:
    """The colour task as files of the user ``jsonl`` task (the CLI finds tasks by name); its options."""
    task = ColourTask()
    for split in ("train", "validation"):
        lines = [json.dumps({"text": e.source, "colour": e.target}) for e in task.load(split)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return {
        "input_fields": "text",
        "target_field": "colour",
        "files": {s: f"{s}.jsonl" for s in ("train", "validation")},
    }


@pytest.mark.slow
def test_two_process_launch_trains_a_student_that_evaluates_the_same_alone(tmp_path):
    options = write_colour_task(tmp_path)
    task_args = ["--task", "jsonl", "--data-dir", str(tmp_path)]
    for key, value in options.items():
        task_args += ["--task-option", f"{key}={json.dumps(value) if isinstance(value, dict) else value}"]
    model_dir, output = tmp_path / "tiny", tmp_path / "student"
    assert main(["build-tiny", *task_args, "--output", str(model_dir), "--vocab-size", "300"]) == 0
    # accelerate 1.x starts several CPU processes with `--cpu` only through MPI; `--multi_gpu` starts them
    # with torchrun, and ACCELERATE_USE_CPU keeps them on the CPU (gloo backend).
    command = [
        str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "tokendistill.cli", "train-student", "--model", str(model_dir), *task_args,
        "--output", str(output), "--mode", "random", "--k", "2", "--batch-size", "8", "--max-steps", "40",
        "--eval-steps", "20", "--logging-steps", "10", "--max-new-tokens", "6", "--learning-rate", "3e-3",
        "--eval-batch-size", "16", "--training-arg", "disable_tqdm=true",
    ]  # fmt: skip
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=400)
    assert finished.returncode == 0, finished.stderr[-4000:]

    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 40
    # Two processes of 8 examples: 16 a step, so 40 steps are 640 examples, 1.6 epochs of 400.
    assert state["log_history"][-1]["epoch"] == pytest.approx(1.6)
    assert all("rationale_loss" in e for e in state["log_history"] if "loss" in e)
    accuracy = read_manifest(output)["validation_accuracy"]
    # The accuracy measured across both processes is the one one process measures on the saved model; a
    # prediction paired with the wrong example would pull it towards chance (1/6).
    alone = evaluate_model(
        output, get_task("jsonl", **options), "validation", tmp_path / "eval", data_dir=tmp_path
    )
    assert alone["accuracy"] == accuracy >= 0.8
