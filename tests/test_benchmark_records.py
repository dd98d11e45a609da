"""Benchmark scripts that turn a run's results.json into a results file keep every number they promise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from report_helpers import esnli_task, make_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from esnli_pretrained import markdown, stage_seconds, study_record
from tokendistill.experiment.plan import build_plan


def test_esnli_study_record_lists_every_run_and_each_methods_plausibility(tmp_path):
    def validation(student, variant, seed):
        return 0.8 if variant.alpha == 0.9 else 0.7

    config = make_run(
        tmp_path,
        task=esnli_task(tmp_path),
        seeds=[0, 1],
        sweeps={"methods": ["integrated_gradients"], "alpha": [0.9]},
        validation_of=validation,
        report={"heatmap_examples": 0},
    )
    record = study_record(json.loads((config.output_dir / "report/results.json").read_text()))
    assert record["teacher"]["test_accuracy"] == pytest.approx(0.9)
    settings = sorted(
        (run["mode"], run["method"] or "", run["alpha"] or 0.0, run["seed"], run["selected"])
        for run in record["runs"]
    )
    expected = [("standard", "", 0.0, seed, True) for seed in (0, 1)]
    for mode, method in (("random", ""), ("rationale", "integrated_gradients"), ("rationale", "saliency")):
        expected += [(mode, method, alpha, seed, alpha == 0.9) for alpha in (0.5, 0.9) for seed in (0, 1)]
    assert settings == sorted(expected)
    standard = next(run for run in record["runs"] if run["mode"] == "standard" and run["seed"] == 1)
    assert standard["test_accuracy"] == pytest.approx(0.65)  # report_helpers.default_accuracy
    assert set(record["plausibility"]) == {"saliency", "integrated_gradients", "random"}
    for scores in record["plausibility"].values():
        assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((1, 5 / 8, 10 / 13))
    report = {"command": "c", "environment": {"device_name": "cpu", "cpu_count": 2, "workers": 1}}
    report["environment"] |= {"torch_threads_per_worker": 1, "load_average_at_start": None}
    report["environment"] |= {"torch": "t", "transformers": "x"}
    seconds = stage_seconds(config.output_dir)
    assert seconds.keys() == {stage.key for stage in build_plan(config)}
    assert all(value >= 0 for value in seconds.values())
    text = markdown({**report, "wall_seconds": 3600, "stage_seconds": {"teacher": 5400.0}, **record})
    assert "1.5 h of stage time in all" in text
    assert "| tiny-t5 | rationale | saliency | 0.9 | 1 | 80.0 | 80.0 | yes | 0.50 | 2.50 | 9: 80.0 |" in text
    assert "| tiny-t5 | standard | — | — | 0 | 70.0 | 60.0 | yes | 0.50 | — | 9: 70.0 |" in text
    # 20 test examples: rationale students get round(20 x (0.775, 0.825)) = 16, 16 right, standard ones
    # round(20 x (0.6, 0.65)) = 12, 13: differences 0.2 and 0.15, mean +17.5 points (alpha 0.9 chosen).
    vs_standard = next(row for row in record["paired"] if row["b"] == "Standard fine-tuning")
    assert (vs_standard["a_alpha"], vs_standard["difference"]) == (0.9, pytest.approx(0.175))
    assert "| Teacher-token rationales - Standard fine-tuning | +17.5 |" in text
