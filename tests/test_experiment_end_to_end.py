"""``tokendistill run`` for real on a tiny synthetic experiment: every stage, then the skip and rerun rules.

The runner's dependency logic is tested with stub stages in test_experiment_runner.py; this checks the real
stages fit together.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tokendistill.attribution.records import read_rationale_file
from tokendistill.cli import main
from tokendistill.experiment.config import load_config
from tokendistill.experiment.plan import build_plan
from tokendistill.experiment.runner import read_marker

TRAINING = {
    "learning_rate": 3e-3,
    "batch_size": 16,
    "eval_batch_size": 64,
    "max_steps": 12,
    "eval_steps": 6,
    "logging_steps": 6,
    "max_input_length": 64,
    "max_target_length": 16,
    "max_new_tokens": 8,
    "training_args": {"disable_tqdm": True},
}
CONFIG = {
    "task": {"name": "synthetic-nli", "options": {"size": 96, "validation_size": 16, "test_size": 24}},
    "teacher": {"tiny": {"vocab_size": 200}, "training": TRAINING},
    "attribution": {"k": 3, "batch_size": 32},
    "students": {
        "models": [{"name": "tiny", "tiny": {"vocab_size": 200}}],
        "modes": ["standard", "rationale", "random"],
        "training": TRAINING,
    },
    "seeds": [0],
    "evaluation": {"batch_size": 64, "bootstrap_samples": 200},
    "report": {"heatmap_examples": 2},
}


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"^\[\d+/\d+\] (\S+): (?:running|resuming)$", output, flags=re.MULTILINE))


@pytest.mark.slow
def test_tiny_experiment_runs_end_to_end_then_skips_and_reruns_exactly(tmp_path, capsys):
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "output_dir": str(tmp_path / "run")}))
    config = load_config(path)
    keys = {stage.key for stage in build_plan(config)}

    assert main(["run", str(path), "--jobs", "2", "--threads", "1"]) == 0
    assert ran_stages(capsys.readouterr().out) == keys
    run_dir = config.output_dir
    assert all(read_marker(run_dir / key)["status"] == "done" for key in keys)

    records = read_rationale_file(run_dir / "rationales/saliency-k3/train.jsonl")
    assert len(records) == 96 and all(record.k == 3 and record.rationale for record in records)
    for key in ("eval/teacher", "eval/tiny/standard/seed0", "eval/tiny/rationale-saliency-k3/seed0"):
        metrics = json.loads((run_dir / key / "metrics.json").read_text())
        assert metrics["n"] == 24 and 0 <= metrics["ci_low"] <= metrics["accuracy"] <= metrics["ci_high"] <= 1
        assert len((run_dir / key / "predictions.jsonl").read_text().splitlines()) == 24
    markdown = (run_dir / "report/report.md").read_text()
    for label in ("Standard fine-tuning", "Teacher-token rationales", "Random-token control", "Teacher"):
        assert re.search(rf"^\| {label} \| \d+\.\d \[", markdown, flags=re.MULTILINE), label
    assert '<img src="data:image/png;base64,' in (run_dir / "report/report.html").read_text()

    assert main(["run", str(path)]) == 0
    assert ran_stages(capsys.readouterr().out) == set()

    assert main(["run", str(path), "students.alpha=0.3"]) == 0
    assert ran_stages(capsys.readouterr().out) == {
        "students/tiny/rationale-saliency-k3/seed0",
        "eval/tiny/rationale-saliency-k3/seed0",
        "students/tiny/random-k3/seed0",
        "eval/tiny/random-k3/seed0",
        "report",
    }

    assert main(["run", str(path), "students.alpha=0.3", "--status"]) == 0
    statuses = capsys.readouterr().out.split()
    assert statuses[::2] == ["done"] * len(keys)
    assert main(["run", str(path), "--status"]) == 0  # back to alpha 0.5: those students are outdated again
    assert capsys.readouterr().out.count("outdated") == 5


def test_bad_config_fails_before_any_stage_runs(tmp_path, capsys):
    path = tmp_path / "experiment.yaml"
    bad = {**CONFIG, "output_dir": str(tmp_path / "run"), "students": {**CONFIG["students"], "alpah": 0.3}}
    path.write_text(yaml.safe_dump(bad))
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err
    assert "students.alpah" in error and "unknown field" in error and str(path) in error
    assert not (tmp_path / "run").exists()
