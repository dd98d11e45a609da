"""The report on fake runs with known numbers: Table 1 cells, evidence analysis, heatmaps, plots, files."""

from __future__ import annotations

import base64
import json
import math
import re
from types import SimpleNamespace

import pytest
import yaml
from scipy import stats

from report_helpers import BASE, alpha_sweep_accuracy, alpha_sweep_validation, esnli_task, make_run
from tokendistill.attribution.records import read_rationale_file
from tokendistill.cli import main
from tokendistill.data.errors import DataError
from tokendistill.experiment.plan import RATIONALE_FILE
from tokendistill.experiment.runner import RESOLVED_CONFIG
from tokendistill.experiment.splits import ExperimentTask
from tokendistill.report import build_report, load_run, write_report
from tokendistill.report.analysis import evidence_overlap, read_with_examples
from tokendistill.report.content import run_summary
from tokendistill.report.heatmap import heatmaps
from tokendistill.report.results import TrainingLog, read_training_log
from tokendistill.report.table import cell

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("report")).output_dir


def test_table_one_rows_and_seed_intervals_match_a_hand_computation(run_dir):
    content = build_report([load_run(run_dir)])
    (table,) = content.tables
    assert table.columns == ("synthetic-nli",)
    assert [row.label for row in table.rows] == [
        "Standard fine-tuning",
        "Teacher-token rationales",
        "Random-token control",
        "Teacher",
    ]
    assert content.rows_not_run == ("DSS (PaLM rationales)",)
    cells = {row.label: row.cells[0] for row in table.rows}
    # Seeds 0, 1, 2 score 24, 26 and 28 of 40 test examples: mean 0.65, sample sd 0.05.
    standard = cells["Standard fine-tuning"]
    half_width = stats.t.ppf(0.975, df=2) * 0.05 / math.sqrt(3)
    assert standard.n_seeds == 3 and standard.accuracy == pytest.approx(0.65)
    assert (standard.low, standard.high) == pytest.approx((0.65 - half_width, 0.65 + half_width))
    assert cells["Teacher-token rationales"].accuracy == pytest.approx(0.825)
    # One teacher: its cell is the bootstrap interval its evaluation recorded.
    metrics = json.loads((run_dir / "eval/teacher/metrics.json").read_text())
    teacher = cells["Teacher"]
    assert (teacher.accuracy, teacher.low, teacher.high, teacher.n_seeds) == (
        metrics["accuracy"],
        metrics["ci_low"],
        metrics["ci_high"],
        1,
    )
    assert teacher.low < 0.9 < teacher.high
    assert "| Standard fine-tuning | 65.0 [" in (run_dir / "report/report.md").read_text()


def test_results_json_holds_the_tables_numbers_as_fractions(run_dir):
    results = json.loads((run_dir / "report/results.json").read_text())
    (table,) = results["tables"]
    standard = table["rows"]["Standard fine-tuning"]["synthetic-nli"]
    # Seeds 0, 1, 2 score 24, 26 and 28 of 40 test examples (as in the hand computation above).
    half_width = stats.t.ppf(0.975, df=2) * 0.05 / math.sqrt(3)
    assert standard["accuracy"] == pytest.approx(0.65) and standard["n_seeds"] == 3
    assert (standard["low"], standard["high"]) == pytest.approx((0.65 - half_width, 0.65 + half_width))
    assert standard["interval"] == "seeds"
    assert table["rows"]["Teacher-token rationales"]["synthetic-nli"]["accuracy"] == pytest.approx(0.825)
    assert "DSS (PaLM rationales)" not in table["rows"]
    (evidence,) = results["evidence"]
    assert (evidence["method"], evidence["k"]) == ("saliency", 5)
    assert 0 < evidence["random_k_words"] < 1 and evidence["examples"] > 0


def test_single_seed_cells_use_the_bootstrap_interval(tmp_path):
    run_dir = make_run(tmp_path, seeds=[1]).output_dir
    (table,) = build_report([load_run(run_dir)]).tables
    cell = table.rows[0].cells[0]
    metrics = json.loads((run_dir / "eval/tiny-t5/standard/seed1/metrics.json").read_text())
    assert (cell.accuracy, cell.low, cell.high, cell.n_seeds) == (
        0.65,
        metrics["ci_low"],
        metrics["ci_high"],
        1,
    )


def test_each_run_is_a_column(tmp_path):
    nli = make_run(tmp_path, "nli").output_dir
    math_task = {"name": "synthetic-math", "options": {"size": 60, "validation_size": 10, "test_size": 40}}
    math_run = make_run(tmp_path, "math", task=math_task).output_dir
    content = build_report([load_run(nli), load_run(math_run)])
    assert content.tables[0].columns == ("synthetic-nli", "synthetic-math")
    assert all(len(row.cells) == 2 and all(row.cells) for row in content.tables[0].rows)
    same_task = build_report([load_run(nli), load_run(nli)])
    assert same_task.tables[0].columns == ("synthetic-nli (nli)", "synthetic-nli (nli)")


def test_evidence_overlap_counts_the_examples_whose_rationale_holds_the_answer(run_dir):
    """The fake teacher puts the evidence words on top in even examples and at the bottom in odd ones."""
    train = ExperimentTask(load_run(run_dir).config.task).load("train")
    overlap = evidence_overlap(run_dir / "rationales/saliency-k5" / RATIONALE_FILE, train)
    assert overlap.examples == len(train) == 60
    assert overlap.hits == 30 and overlap.share == 0.5
    assert 0 < overlap.chance < 1


def test_a_rationale_that_is_not_the_top_k_of_its_scores_is_an_error(run_dir, tmp_path):
    source = run_dir / "rationales/saliency-k5" / RATIONALE_FILE
    lines = source.read_text().splitlines()
    record = json.loads(lines[1])
    record["rationale"] = "made up words"
    lines[1] = json.dumps(record)
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    train = ExperimentTask(load_run(run_dir).config.task).load("train")
    with pytest.raises(DataError) as caught:
        read_with_examples(broken, train)
    assert (caught.value.line, caught.value.field) == (2, "rationale")


def test_heatmaps_rebuild_the_source_and_mark_rationale_and_template_words(run_dir):
    run = load_run(run_dir)
    maps = heatmaps(run)
    records = read_rationale_file(run.sample_file)
    test = {example.id: example for example in ExperimentTask(run.config.task).load("test")}
    assert len(maps) == len(records) == 3
    for heatmap, record in zip(maps, records, strict=True):
        example = test[heatmap.example_id]
        assert "".join(piece.text for piece in heatmap.pieces) == example.source
        assert " ".join(piece.text for piece in heatmap.pieces if piece.rationale) == record.rationale
        assert "".join(piece.text for piece in heatmap.pieces if piece.template) == "</s>"
        shades = [piece.shade for piece in heatmap.pieces if piece.shade is not None]
        assert max(shades) == 1.0 and min(shades) >= 0.0
        # The first teacher-token student (seed 0) gets 31 of 40 right: the first 31 examples.
        (student,) = heatmap.students
        assert student.student == "tiny-t5" and student.correct and student.prediction == example.target


def test_sweeps_add_the_k_and_method_plots(tmp_path):
    sweeps = {"k": [2, 8], "methods": ["integrated_gradients"]}
    config = make_run(tmp_path, sweeps=sweeps)
    content = build_report([load_run(config.output_dir)])
    assert sorted(plot.kind for plot in content.plots) == ["k", "methods", "results"]
    assert all(plot.png.startswith(PNG_SIGNATURE) for plot in content.plots)
    markdown = (config.output_dir / "report/report.md").read_text()
    for target in re.findall(r"!\[[^]]*\]\(([^)]+)\)", markdown):
        assert (config.output_dir / "report" / target).read_bytes().startswith(PNG_SIGNATURE)
    assert "## Accuracy against k" in markdown and "## Attribution methods" in markdown
    methods = {(row.method, row.k) for row in content.overlaps}
    assert methods == {("saliency", 5), ("saliency", 2), ("saliency", 8), ("integrated_gradients", 5)}


def test_a_training_size_sweep_adds_a_learning_curve_table_with_each_size_in_its_column(tmp_path):
    def accuracy(student, variant, seed):
        if variant is None:
            return 0.9
        size = variant.train_examples or 30  # 30: the main size
        if variant.mode == "rationale":  # rationales help most at the main size, not at all with 50
            return size / 100 + {10: 0.1, 30: 0.2, 50: 0.0}[size]
        return size / 100 + {"standard": 0.0, "random": 0.1}[variant.mode]

    students = {**BASE["students"], "train_examples": 30}
    run = load_run(
        make_run(
            tmp_path, accuracy_of=accuracy, students=students, sweeps={"train_examples": [50, 10]}
        ).output_dir
    )
    content = build_report([run])
    table_one, curve = content.tables
    # The paired differences come per size, each named after its column.
    by_size = {row.task: row.comparison.mean for row in content.paired if row.b == "Standard fine-tuning"}
    assert by_size == pytest.approx(
        {f"synthetic-nli, n = {n}": gain for n, gain in ((10, 0.1), (30, 0.2), (50, 0.0))}
    )
    assert curve.columns == ("n = 10", "n = 30", "n = 50")
    rows = {row.label: [c.accuracy for c in row.cells] for row in curve.rows}
    assert rows["Standard fine-tuning"] == pytest.approx([0.1, 0.3, 0.5])
    assert rows["Teacher-token rationales"] == pytest.approx([0.2, 0.5, 0.5])
    assert rows["Random-token control"] == pytest.approx([0.2, 0.4, 0.6])
    # Table 1 shows the main size only, and the run's line says which.
    assert "students tiny-t5 (trained on the first 30 training examples)" in run_summary(run)
    assert {row.label: row.cells[0].accuracy for row in table_one.rows}[
        "Standard fine-tuning"
    ] == pytest.approx(0.3)
    assert build_report([load_run(make_run(tmp_path, "plain").output_dir)]).tables[1:] == ()


def test_alpha_is_chosen_per_mode_on_validation_never_on_test(tmp_path):
    """Rationale students do best on validation at alpha 0.9 (but best on test at 0.5); random students
    do best on validation at the main alpha: each row shows its validation choice and names it."""
    config = make_run(
        tmp_path,
        accuracy_of=alpha_sweep_accuracy,
        validation_of=alpha_sweep_validation,
        sweeps={"alpha": [0.9]},
        seeds=[0, 1],
    )
    (table,) = build_report([load_run(config.output_dir)]).tables
    cells = {row.label: row.cells[0] for row in table.rows}
    rationale, random, standard = (
        cells["Teacher-token rationales"],
        cells["Random-token control"],
        cells["Standard fine-tuning"],
    )
    assert (rationale.alpha, rationale.accuracy) == (0.9, pytest.approx(0.6125))
    assert (random.alpha, random.accuracy) == (0.5, pytest.approx(0.5625))
    assert (standard.alpha, standard.accuracy) == (None, pytest.approx(0.6125))
    results = json.loads((config.output_dir / "report/results.json").read_text())
    assert results["tables"][0]["rows"]["Teacher-token rationales"]["synthetic-nli"]["alpha"] == 0.9
    (run,) = results["runs"]
    assert run["teacher"]["test_accuracy"] == pytest.approx(0.9)
    rationale_runs = {
        (row["alpha"], row["seed"]): (row["test_accuracy"], row["validation_accuracy"], row["selected"])
        for row in run["students"]
        if row["mode"] == "rationale"
    }
    assert rationale_runs == {
        (0.5, 0): (pytest.approx(0.7), 0.7, False),
        (0.5, 1): (pytest.approx(0.725), 0.7, False),
        (0.9, 0): (pytest.approx(0.6), 0.8, True),
        (0.9, 1): (pytest.approx(0.625), 0.8, True),
    }
    assert len(run["students"]) == 2 * 5  # standard, and rationale and random at two alphas, two seeds
    losses = {(row["mode"], row["final_label_loss"], row["final_rationale_loss"]) for row in run["students"]}
    assert losses == {("standard", 0.5, None), ("rationale", 0.5, 2.5), ("random", 0.5, 2.5)}
    curves = [row["validation_curve"] for row in run["students"]]
    assert curves == [[[9, row["validation_accuracy"]]] for row in run["students"]]
    assert "α=0.9" in (config.output_dir / "report/report.md").read_text()


def test_rationale_plausibility_against_human_explanations_reaches_every_page(tmp_path):
    """e-SNLI-format data whose explanation repeats all 8 content words of the input: any 5 chosen words
    (rationale or random) hit, so P = 5/5, R = 5/8 and F1 = 2 * (5/8) / (13/8) = 10/13."""
    config = make_run(tmp_path, task=esnli_task(tmp_path), seeds=[0], report={"heatmap_examples": 0})
    (row_of_report,) = build_report([load_run(config.output_dir)]).plausibility
    expected = pytest.approx((1.0, 5 / 8, 10 / 13))
    for scores in (row_of_report.scores.rationales, row_of_report.scores.random_words):
        assert (scores.precision, scores.recall, scores.f1) == expected
    assert row_of_report.scores.rationales.examples == len(ExperimentTask(config.task).load("train"))
    (entry,) = json.loads((config.output_dir / "report/results.json").read_text())["plausibility"]
    assert (entry["method"], entry["k"]) == ("saliency", 5)
    assert (entry["rationale"]["recall"], entry["random_k_words"]["f1"]) == (0.625, pytest.approx(10 / 13))
    assert "| esnli | saliency | 5 |" in (config.output_dir / "report/report.md").read_text()
    assert (
        "Do the rationales match human explanations?"
        in (config.output_dir / "report/report.html").read_text()
    )


def test_html_is_one_self_contained_page(run_dir):
    html = (run_dir / "report/report.html").read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert images and all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data in images)
    assert html.count("<tr>") >= 4 + 1  # four method rows and the evidence row
    assert html.count('class="heatmap"') == 3


def test_results_of_an_outdated_config_are_not_reported(tmp_path):
    config = make_run(tmp_path)
    resolved = config.output_dir / RESOLVED_CONFIG
    data = yaml.safe_load(resolved.read_text())
    data["students"]["alpha"] = 0.3  # as if the run was restarted with another alpha and stopped at once
    resolved.write_text(yaml.safe_dump(data))
    labels = [row.label for row in build_report([load_run(config.output_dir)]).tables[0].rows]
    assert labels == ["Standard fine-tuning", "Teacher"]


def test_report_command_writes_both_files(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--output", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out/report.md").is_file() and (tmp_path / "out/report.html").is_file()
    assert str(tmp_path / "out/report.html") in capsys.readouterr().out
    assert main(["report", str(run_dir), str(run_dir)]) == 2  # several runs need --output
    with pytest.raises(ValueError, match="no run folders"):
        write_report([], tmp_path)


def test_base_config_of_the_fake_runs_is_small():
    assert BASE["task"]["options"]["size"] <= 100  # keeps these tests fast


def test_seed_intervals_are_clipped_to_the_accuracy_range():
    # Seeds at 0.45, 0.95, 0.9: mean 0.7667, sample sd 0.2754, t(0.975, 2) = 4.303 -> 0.7667 +- 0.684,
    # i.e. [0.083, 1.451] before clipping.
    evaluations = [SimpleNamespace(accuracy=value) for value in (0.45, 0.95, 0.9)]
    clipped = cell(evaluations)
    assert clipped.accuracy == pytest.approx(0.7667, abs=1e-4)
    assert clipped.low == pytest.approx(0.083, abs=1e-3)
    assert clipped.high == 1.0


def test_training_log_holds_the_last_losses_and_the_validation_curve(tmp_path):
    """The trainer logs per-task losses every logging window; evaluation entries and the closing summary
    (``train_loss``) are not training windows."""
    history = [
        {"step": 50, "loss": 3.0, "label_loss": 1.0, "rationale_loss": 5.0},
        {"step": 50, "eval_accuracy": 0.6},
        {"step": 100, "loss": 1.5, "label_loss": 0.25, "rationale_loss": 2.75},
        {"step": 100, "eval_accuracy": 0.7},
        {"step": 100, "train_loss": 2.2, "train_runtime": 9.0},
    ]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert read_training_log(tmp_path) == TrainingLog(0.25, 2.75, ((50, 0.6), (100, 0.7)))
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 10, "loss": 0.4}]}))
    assert read_training_log(tmp_path) == TrainingLog(0.4, None, ())  # one task: its loss is the label loss
    assert read_training_log(tmp_path / "elsewhere") == TrainingLog()
    (tmp_path / "trainer_state.json").write_text("{")
    with pytest.raises(DataError, match=r"trainer_state\.json.*log_history"):
        read_training_log(tmp_path)
