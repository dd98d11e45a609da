"""Benchmark scripts that turn a run's results.json into a results file keep every number they promise."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from report_helpers import alpha_sweep_accuracy, alpha_sweep_validation, esnli_task, make_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from benchlib import stage_seconds
from esnli_pretrained import markdown, study_record
from replicate_local import task_summary as replicate_summary
from synthetic_curve import alpha_markdown, runs_table, summarise
from tokendistill.experiment.plan import build_plan
from tokendistill.experiment.runner import MARKER
from tokendistill.report.results import load_run


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
    # A finished stage folder of another config (here: a seed this one does not run) is not its cost.
    foreign = config.output_dir / "students/tiny-t5/standard/seed7"
    shutil.copytree(config.output_dir / "students/tiny-t5/standard/seed1", foreign)
    marker = json.loads((foreign / MARKER).read_text()) | {"stage": "students/tiny-t5/standard/seed7"}
    (foreign / MARKER).write_text(json.dumps(marker))
    seconds = stage_seconds(config.output_dir)
    assert seconds.keys() == {stage.key for stage in build_plan(config)}
    assert all(value >= 0 for value in seconds.values())
    text = markdown({**report, "wall_seconds": 3600, "stage_seconds": {"teacher": 5400.0}, **record})
    assert text.startswith("# esnli with a pretrained teacher and students") and record["task"] == "esnli"
    assert "1.5 h of stage time in all" in text
    assert "| tiny-t5 | rationale | saliency | 0.9 | 1 | 80.0 | 80.0 | yes | 0.50 | 2.50 | 9: 80.0 |" in text
    assert "| tiny-t5 | standard | — | — | 0 | 70.0 | 60.0 | yes | 0.50 | — | 9: 70.0 |" in text
    # 20 test examples: rationale students get round(20 x (0.775, 0.825)) = 16, 16 right, standard ones
    # round(20 x (0.6, 0.65)) = 12, 13: differences 0.2 and 0.15, mean +17.5 points (alpha 0.9 chosen).
    vs_standard = next(row for row in record["paired"] if row["b"] == "Standard fine-tuning")
    assert (vs_standard["a_alpha"], vs_standard["difference"]) == (0.9, pytest.approx(0.175))
    assert "| Teacher-token rationales - Standard fine-tuning | +17.5 |" in text


def test_synthetic_curve_reads_each_training_set_size_and_pairs_settings_within_it(tmp_path):
    """Accuracies are set per size and mode, so a cell read from the wrong size or mode shows."""

    def accuracy(student, variant, seed):
        if variant is None:
            return 0.9
        size = variant.train_examples or 40  # 40: the main size
        mode = {"standard": 0.0, "rationale": 0.1, "random": 0.05}[variant.mode]
        mode += 0.025 if (variant.mode, variant.k) == ("random", 2) else 0.0  # random words help at k=2
        return size / 100 + mode + 0.025 * seed  # 40 test examples: multiples of 0.025 are exact

    students = {
        "models": [{"name": "tiny-t5", "tiny": {}}],
        "modes": ["standard", "rationale", "random"],
        "train_examples": 40,
    }
    config = make_run(
        tmp_path,
        accuracy_of=accuracy,
        students=students,
        sweeps={"train_examples": [20, 60], "k": [2]},
        report={"heatmap_examples": 0},
    )
    run = load_run(config.output_dir)
    summary = summarise(run, "tiny-t5")
    assert list(summary["accuracy"]) == ["20", "40", "60"]
    assert summary["accuracy"]["20"]["standard"]["per_seed"] == pytest.approx([0.2, 0.225, 0.25])
    assert summary["accuracy"]["60"]["rationale-saliency-k5"]["mean"] == pytest.approx(0.725)
    assert set(summary["accuracy"]["40"]) == {"standard", "rationale-saliency-k5", "random-k5"}
    for size in ("20", "40", "60"):
        paired = summary["paired"][size]
        assert paired["rationale-saliency-k5 - standard"]["mean"] == pytest.approx(0.1)
        assert paired["rationale-saliency-k5 - random-k5"]["mean"] == pytest.approx(0.05)
    # The k sweep is read at the main size, rationale and random students at each k.
    assert summary["k_sweep"]["rationale"]["2"]["mean"] == pytest.approx(0.525)
    assert summary["k_sweep"]["random"]["2"]["mean"] == pytest.approx(0.5)
    assert summary["k_paired"]["2"]["rationale - standard"]["mean"] == pytest.approx(0.1)
    assert summary["k_paired"]["2"]["rationale - random"]["mean"] == pytest.approx(0.025)  # same k
    sizes = {(row["setting"], row["train_examples"]) for row in runs_table(run)}
    assert ("standard-n20", 20) in sizes and ("standard", 40) in sizes and ("random-k2", 40) in sizes
    results = json.loads((config.output_dir / "report/results.json").read_text())
    (reported,) = results["runs"]
    assert {row["train_examples"] for row in reported["students"]} == {20, 40, 60}


def test_synthetic_curve_reads_the_alpha_sweep_and_the_alpha_chosen_on_validation(tmp_path):
    """report_helpers.alpha_sweep_*: rationale students score 0.1 above standard ones at alpha 0.5 and the
    same at 0.9, which validation prefers; random words score 0.05 below standard at 0.5 and 0.075 at 0.9,
    which validation prefers here."""

    def accuracy(student, variant, seed):
        lower = 0.025 if variant is not None and (variant.mode, variant.alpha) == ("random", 0.9) else 0.0
        return alpha_sweep_accuracy(student, variant, seed) - lower

    def validation(student, variant, seed):
        if (variant.mode, variant.alpha) == ("random", 0.9):
            return 0.75
        return alpha_sweep_validation(student, variant, seed)

    config = make_run(
        tmp_path,
        accuracy_of=accuracy,
        validation_of=validation,
        sweeps={"alpha": [0.9]},
        report={"heatmap_examples": 0},
    )
    run = load_run(config.output_dir)
    summary = summarise(run, "tiny-t5")
    rationale, random_words = summary["alpha_sweep"]["rationale"], summary["alpha_sweep"]["random"]
    assert list(rationale["by_alpha"]) == ["0.5", "0.9"]
    assert rationale["by_alpha"]["0.5"]["mean"] == pytest.approx(0.725)
    assert rationale["by_alpha"]["0.9"]["mean"] == pytest.approx(0.625)
    assert rationale["by_alpha"]["0.9"]["validation"] == pytest.approx(0.8)
    assert (rationale["chosen"], random_words["chosen"]) == ("0.9", "0.9")
    assert random_words["by_alpha"]["0.9"]["mean"] == pytest.approx(0.55)
    at_05, at_09 = summary["alpha_paired"]["0.5"], summary["alpha_paired"]["0.9"]
    assert at_05["rationale - standard"]["mean"] == pytest.approx(0.1)
    assert at_09["rationale - standard"]["mean"] == pytest.approx(0.0)
    assert at_09["rationale - random"]["mean"] == pytest.approx(0.075)  # against random words at 0.9
    # Each mode at its validation choice: rationale at 0.9 (0.625), random at 0.9 (0.55).
    chosen = summary["alpha_paired"]["chosen"]
    assert chosen["rationale - standard"]["mean"] == pytest.approx(0.0)
    assert chosen["rationale - random"]["mean"] == pytest.approx(0.075)
    # The curve's own tables stay at the main alpha.
    assert summary["accuracy"]["all"]["rationale-saliency-k5"]["mean"] == pytest.approx(0.725)
    alphas = {(row["mode"], row["alpha"]) for row in runs_table(run)}
    two_task = {(mode, alpha) for mode in ("rationale", "random") for alpha in (0.5, 0.9)}
    assert alphas == {("standard", None)} | two_task
    text = "\n".join(alpha_markdown(summary, {"main_train_size": None, "seeds": [0, 1, 2]}))
    assert "| rationale | 0.9 | 80.0 | 62.5 [" in text and text.count("| yes |") == 2
    assert "| 0.9 | +0.0 [+0.0, +0.0] [+0.0, +0.0] 0/3, " in text


def test_replicate_local_reads_each_mode_its_pairs_and_the_teachers_lead(tmp_path):
    """report_helpers.default_accuracy: teacher 0.9, standard 0.6, random 0.65, rationale (k=5) 0.775, each
    plus 0.05 x seed (40 test examples: exact)."""
    config = make_run(tmp_path, report={"heatmap_examples": 0})
    summary = replicate_summary(load_run(config.output_dir), "tiny-t5")
    assert list(summary["accuracy"]) == ["standard", "rationale", "random"]
    assert summary["accuracy"]["rationale"]["per_seed"] == pytest.approx([0.775, 0.825, 0.875])
    assert summary["accuracy"]["random"]["mean"] == pytest.approx(0.7)
    assert summary["paired"]["rationale - standard"]["mean"] == pytest.approx(0.175)
    assert summary["paired"]["rationale - random"]["mean"] == pytest.approx(0.125)
    assert summary["teacher_vs_standard"]["mean"] == pytest.approx(0.9 - 0.65)
    assert summary["evidence"]["5"]["examples"] > 0
