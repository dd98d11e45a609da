"""The statistics and evidence scores the benchmarks report with (benchmarks/benchlib.py), by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tokendistill.attribution.records import RationaleRecord, write_rationale_file
from tokendistill.attribution.words import WordScore, split_words
from tokendistill.data.example import Example, own, template
from tokendistill.metrics.bootstrap import paired_difference, seed_interval
from tokendistill.metrics.paired import paired_comparison

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from benchlib import evidence_at_k, paired_record

SOURCE = "the red box is on the shelf"
SCORES = {"red": 0.9, "shelf": 0.8, "box": 0.1, "is": 0.02, "on": 0.01}


@pytest.fixture
def example_and_file(tmp_path):
    red, box = SOURCE.index("red"), SOURCE.index("box")
    example = Example("ex-0", (own(SOURCE), template(" | colour?")), "red", ((red, red + 3), (box, box + 3)))
    words = tuple(WordScore(w.text, w.start, w.end, SCORES.get(w.text, 0.0)) for w in split_words(SOURCE))
    path = write_rationale_file(
        tmp_path / "r.jsonl", [RationaleRecord("ex-0", "red", "saliency", 2, words, "red shelf")]
    )
    return example, path


def test_evidence_at_k_on_a_hand_worked_example(example_and_file):
    example, path = example_and_file
    table = evidence_at_k(path, [example], [1, 2, 3])
    # 7 candidate words, 2 of them evidence (red, box). Top-1: red; top-2: red, shelf; top-3: + box.
    assert table[1]["precision"] == 1.0 and table[1]["recall"] == 0.5 and table[1]["hit"] == 1.0
    assert table[2]["precision"] == 0.5 and table[2]["recall"] == 0.5
    assert table[3]["precision"] == pytest.approx(2 / 3) and table[3]["recall"] == 1.0
    assert table[2]["precision_chance"] == pytest.approx(2 / 7)
    assert table[2]["recall_chance"] == pytest.approx(2 / 7)
    assert table[2]["hit_chance"] == pytest.approx(1 - 10 / 21)  # 1 - C(5,2) / C(7,2)
    assert table[2]["examples"] == 1


def test_paired_record_pairs_by_seed():
    a = [[1, 1, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]]  # accuracies 0.75, 0.75, 1.0
    b = [[1, 0, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1]]  # accuracies 0.5, 0.5, 0.5
    summary = paired_record(paired_comparison(a, b))
    expected = seed_interval([0.25, 0.25, 0.5])
    assert summary["mean"] == pytest.approx(1 / 3)
    assert (summary["seed_low"], summary["seed_high"]) == pytest.approx((expected.low, expected.high))
    assert summary["a_better_seeds"] == 3 and summary["seeds"] == 3
    assert summary["test_low"] <= 1 / 3 <= summary["test_high"]
    # Averaged over seeds A = (1, 2/3, 2/3, 1), B = (2/3, 0, 1/3, 1): per-example d = (1/3, 2/3, 1/3, 0). A
    # resample of four 0s (1/256) falls below 2.5%; at most one 1/3 with three 0s ((1 + 4 x 2) / 256 = 3.5%)
    # reaches it, so the 2.5th percentile is (1/3) / 4 = 1/12 > 0, while the seed interval
    # 1/3 +- t(0.975, 2) * sqrt(1/48) / sqrt(3) = 1/3 +- 0.359 holds 0.
    assert summary["test_low"] == pytest.approx(1 / 12) and summary["seed_low"] < 0
    assert summary["verdict"] == "better (interval over test examples above 0)"
    with pytest.raises(ValueError, match="share no finished seed"):
        paired_record(None)


def test_paired_record_gives_the_numbers_of_its_former_formula():
    """Before the library held paired differences, benchlib took the per-seed differences of the cells'
    accuracies and bootstrapped the seed-averaged correctness itself; the numbers must stay the same."""
    rng = np.random.default_rng(3)
    a, b = ([rng.random(57) < p for _ in range(4)] for p in (0.7, 0.6))
    differences = [float(np.mean(x) - np.mean(y)) for x, y in zip(a, b, strict=True)]
    over_seeds = seed_interval(differences)
    over_test = paired_difference(np.mean(a, axis=0), np.mean(b, axis=0))
    record = paired_record(paired_comparison(a, b))
    assert record.pop("verdict")
    assert record == pytest.approx(
        {
            "mean": over_seeds.mean,
            "seed_low": over_seeds.low,
            "seed_high": over_seeds.high,
            "test_low": over_test.low,
            "test_high": over_test.high,
            "a_better_seeds": sum(d > 0 for d in differences),
            "seeds": 4,
        }
    )
