"""The report's paired differences (report/paired.py): pairing by seed number and example id, and the
"Paired differences" section of every page, on runs whose per-example correctness is chosen by hand."""

from __future__ import annotations

import json
import math

import pytest
from scipy import stats

from report_helpers import BASE, alpha_sweep_accuracy, alpha_sweep_validation, make_run
from tokendistill.data.errors import DataError
from tokendistill.report import build_report, load_run
from tokendistill.report.paired import compare_evaluations
from tokendistill.report.results import Evaluation

# Test accuracy by mode and seed; report_helpers.evaluation marks the first round(accuracy * 40) of the 40
# test examples correct, so every setting's correct examples are a prefix of the test set.
ACCURACY = {"standard": (0.5, 0.6), "rationale": (0.75, 0.7), "random": (0.55, 0.5), "dss": (0.6, 0.55)}


def accuracy_of(student, variant, seed):
    return 0.9 if variant is None else ACCURACY[variant.mode][seed]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("paired")
    config = make_run(
        tmp_path,
        accuracy_of=accuracy_of,
        seeds=[0, 1],
        task={**BASE["task"], "palm_dir": str(tmp_path)},  # the fake stages never read PaLM rationales
        students={**BASE["students"], "modes": ["standard", "rationale", "random", "dss"]},
        report={"heatmap_examples": 0},
    )
    return config.output_dir


def test_the_four_comparisons_match_a_hand_computation(run_dir):
    rows = {(row.a, row.b): row for row in build_report([load_run(run_dir)]).paired}
    assert list(rows) == [
        ("Teacher-token rationales", "Standard fine-tuning"),
        ("Teacher-token rationales", "Random-token control"),
        ("Teacher-token rationales", "DSS (PaLM rationales)"),
        ("DSS (PaLM rationales)", "Standard fine-tuning"),
    ]
    assert {(row.task, row.student, row.a_alpha, row.b_alpha) for row in rows.values()} == {
        ("synthetic-nli", "tiny-t5", None, None)
    }
    t = stats.t.ppf(0.975, df=1)  # 12.706: two seeds
    # Rationales - standard: seeds differ by 0.75 - 0.5 = 0.25 and 0.7 - 0.6 = 0.1, mean 0.175; for two
    # values the standard error is |0.25 - 0.1| / 2 = 0.075, so the seed interval is 0.175 +- 0.953.
    p = rows["Teacher-token rationales", "Standard fine-tuning"].comparison
    assert p.mean == pytest.approx(0.175) and (p.a_better_seeds, p.seeds, p.examples) == (2, 2, 40)
    assert (p.seed_low, p.seed_high) == pytest.approx((0.175 - t * 0.075, 0.175 + t * 0.075))
    # Averaged over seeds, rationales get examples 0-27 right twice and 28-29 once; standard 0-19 twice and
    # 20-23 once. Per-example differences: 0.5 on 20-23 and 28-29, 1 on 24-27, else 0 (sum 7, mean 0.175),
    # variance 5.5/40 - 0.175^2 = 0.1069, standard error sqrt(0.1069 / 40) = 0.0517: the bootstrap interval
    # is near 0.175 +- 1.96 x 0.0517 = [0.074, 0.276] and excludes 0.
    assert p.test_low == pytest.approx(0.074, abs=0.02) and p.test_high == pytest.approx(0.276, abs=0.02)
    assert p.verdict.text() == "better (interval over test examples above 0)"
    # Rationales - random: 0.2 on both seeds, so the seed interval is the point 0.2 and excludes 0.
    p = rows["Teacher-token rationales", "Random-token control"].comparison
    assert (p.mean, p.seed_low, p.seed_high) == pytest.approx((0.2, 0.2, 0.2))
    assert p.verdict.word == "better" and "seeds" in p.verdict.resolved_by
    # Rationales - DSS: 0.15 on both seeds.
    p = rows["Teacher-token rationales", "DSS (PaLM rationales)"].comparison
    assert (p.mean, p.seed_low, p.seed_high) == pytest.approx((0.15, 0.15, 0.15))
    # DSS - standard: seeds differ by +0.1 and -0.05 (mean 0.025, standard error 0.075). Averaged over
    # seeds the two settings differ only on examples 20 and 21 (DSS right twice, standard once): d = 0.5 on
    # 2 of 40 examples. A resample misses both with probability (38/40)^40 = 12.9% > 2.5%, so the interval
    # starts at 0. The number c of draws that hit them is Binomial(40, 1/20): P(c <= 4) = 95.2% and
    # P(c <= 5) = 98.6%, so it ends at 0.5 x 5 / 40 = 0.0625. Not resolved.
    p = rows["DSS (PaLM rationales)", "Standard fine-tuning"].comparison
    assert p.mean == pytest.approx(0.025) and p.a_better_seeds == 1
    assert (p.seed_low, p.seed_high) == pytest.approx((0.025 - t * 0.075, 0.025 + t * 0.075))
    assert (p.test_low, p.test_high) == (0.0, 0.0625)
    assert p.verdict.text() == "not resolved (no interval excludes 0)"


def test_every_page_shows_the_paired_differences(run_dir):
    markdown = (run_dir / "report/report.md").read_text()
    assert "## Paired differences" in markdown
    assert (
        "- synthetic-nli, tiny-t5: yes: +17.5 points vs standard fine-tuning, higher on 2 of 2 seeds; "
        "better (interval over test examples above 0)." in markdown
    )
    assert (
        "| synthetic-nli | tiny-t5 | DSS (PaLM rationales) - Standard fine-tuning | +2.5 | [-92.8, +97.8] | "
        "[+0.0, +6.2] | 1/2 | not resolved (no interval excludes 0) |" in markdown
    )
    html = (run_dir / "report/report.html").read_text()
    assert "<h2>Paired differences</h2>" in html
    assert "<td>Teacher-token rationales - Random-token control</td><td>+20.0</td>" in html
    paired = json.loads((run_dir / "report/results.json").read_text())["paired"]
    assert len(paired) == 4
    dss = paired[3]
    assert (dss["a"], dss["b"], dss["seeds"], dss["examples"], dss["a_better_seeds"]) == (
        "DSS (PaLM rationales)",
        "Standard fine-tuning",
        2,
        40,
        1,
    )
    assert (dss["difference"], dss["test_low"], dss["test_high"]) == (pytest.approx(0.025), 0.0, 0.0625)
    assert (dss["verdict"], dss["resolved_by"]) == ("not resolved", [])
    first = paired[0]
    assert (first["verdict"], first["resolved_by"]) == ("better", ["test examples"])


def write_predictions(path, correct_by_id):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": key, "prediction": "", "target": "", "correct": ok} for key, ok in correct_by_id.items()]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    accuracy = sum(correct_by_id.values()) / len(correct_by_id)
    return Evaluation(accuracy, 0.0, 1.0, len(correct_by_id), path)


def test_examples_pair_by_id_and_seeds_by_number(tmp_path):
    ids = ["e1", "e2", "e3", "e4"]
    a = {
        0: write_predictions(tmp_path / "a0.jsonl", dict(zip(ids, (True, True, False, False), strict=True))),
        1: write_predictions(tmp_path / "a1.jsonl", dict(zip(ids, (True, True, True, False), strict=True))),
        2: write_predictions(tmp_path / "a2.jsonl", dict.fromkeys(ids, False)),  # B lacks seed 2
    }
    # B's file lists the examples in reverse order: e1 right on seed 1, e4 right on seed 3.
    b = {
        1: write_predictions(tmp_path / "b1.jsonl", {"e4": False, "e3": False, "e2": False, "e1": True}),
        3: write_predictions(tmp_path / "b3.jsonl", {"e4": True, "e3": False, "e2": False, "e1": False}),
    }
    # Only seed 1 is common: A gets e1, e2, e3 right, B gets e1. By id, d = (0, 1, 1, 0), mean 0.5; a resample
    # averages 0 (four draws of 0) or 1 (four of 1) with probability (1/2)^4 = 6.25% > 2.5% each, so the
    # interval is [0, 1]. Paired by position, B would read (0, 0, 0, 1) and d = (1, 1, 1, -1): three or four
    # draws of -1 have probability (4 x 3 + 1) / 4^4 = 5.1% > 2.5%, and the interval would start at -0.5.
    p = compare_evaluations(a, b)
    assert (p.seeds, p.examples, p.mean, p.a_better_seeds) == (1, 4, 0.5, 1)
    assert math.isnan(p.seed_low) and math.isnan(p.seed_high)
    assert (p.test_low, p.test_high) == (0.0, 1.0)
    assert compare_evaluations(a, {3: b[3]}) is None


def test_settings_scored_on_other_examples_are_an_error_naming_both_files(tmp_path):
    a = {0: write_predictions(tmp_path / "a" / "predictions.jsonl", {"e1": True, "e2": False})}
    b = {0: write_predictions(tmp_path / "b" / "predictions.jsonl", {"e1": True, "e9": True})}
    with pytest.raises(DataError, match="scores other test examples than") as error:
        compare_evaluations(a, b)
    assert str(tmp_path / "a" / "predictions.jsonl") in str(error.value)
    assert str(tmp_path / "b" / "predictions.jsonl") in str(error.value)
    assert "1 ids only here, such as 'e9', 1 only there, such as 'e2'" in str(error.value)
    (tmp_path / "b" / "predictions.jsonl").write_text('{"id": "e1", "correct": "yes"}\n')
    with pytest.raises(DataError, match="field 'correct': missing or not true/false"):
        compare_evaluations(a, b)


def test_each_side_is_compared_at_the_alpha_its_table_row_shows(tmp_path):
    """Rationale students do best on validation at alpha 0.9, random ones at the main alpha 0.5; on test,
    rationales at 0.9 score exactly what standard students score (0.6 + 0.025 x seed) and 0.1 more at 0.5,
    random students 0.05 less."""
    config = make_run(
        tmp_path,
        accuracy_of=alpha_sweep_accuracy,
        validation_of=alpha_sweep_validation,
        sweeps={"alpha": [0.9]},
        seeds=[0, 1],
        report={"heatmap_examples": 0},
    )
    standard, random = build_report([load_run(config.output_dir)]).paired
    assert standard.label == "Teacher-token rationales α=0.9 - Standard fine-tuning"
    # The same correct examples on both seeds: every difference and both intervals are 0.
    p = standard.comparison
    assert (p.mean, p.seed_low, p.seed_high, p.test_low, p.test_high) == (0, 0, 0, 0, 0)
    assert random.label == "Teacher-token rationales α=0.9 - Random-token control α=0.5"
    assert random.comparison.mean == pytest.approx(0.05) and random.comparison.a_better_seeds == 2
    row = json.loads((config.output_dir / "report/results.json").read_text())["paired"][1]
    assert (row["a_alpha"], row["b_alpha"]) == (0.9, 0.5)


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        ('{"id": "e1", "correct": true}\n["e2", true]\n', 2, "field 'id': missing or not a string"),
        ('{"correct": true}\n', 1, "field 'id': missing or not a string"),
        ('{"id": "e1", "correct": true}\n{"id": "e1", "correct": false}\n', 2, "appears twice"),
        ('{"id": "e1", "correct": true}\n{"id": "e2"', 2, "not valid JSON"),
    ],
)
def test_the_heatmap_reads_predictions_as_strictly_as_the_paired_differences(tmp_path, lines, line, problem):
    """One reader serves both: the heatmap's own ended in a KeyError or TypeError on such rows."""
    from tokendistill.report.heatmap import read_predictions

    path = tmp_path / "predictions.jsonl"
    path.write_text(lines)
    with pytest.raises(DataError, match=problem) as error:
        read_predictions(path)
    assert (error.value.path, error.value.line) == (str(path), line)
