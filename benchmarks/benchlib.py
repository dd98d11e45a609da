"""What the distillation benchmarks share: jobs run once in worker processes, student cells, statistics.

A benchmark is a list of jobs (train a teacher, write rationales, train and test one student) with
dependencies between them. ``run_jobs`` runs every job whose inputs are ready in a pool of worker
processes (one torch thread each: tiny models gain little from a second thread, and two students at once
use two cores fully), stores each job's result as JSON in its own folder, and skips jobs already done, so
an interrupted benchmark continues where it stopped when started again with the same command.

The statistics follow the paper's comparisons: accuracy per cell as the mean over training seeds with a
Student-t interval, and paired differences between two modes both over seeds (same seed, same initial
weights) and over test examples (a paired bootstrap of the per-example correctness averaged over seeds).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from tokendistill.attribution import select_rationale
from tokendistill.attribution.evidence import evidence_score, evidence_words, mean_evidence
from tokendistill.attribution.records import RationaleRecord, read_rationale_file, write_rationale_file
from tokendistill.attribution.stage import generate_rationales
from tokendistill.data.example import Example
from tokendistill.data.tasks.base import Task
from tokendistill.experiment.scheduler import Work, run_graph
from tokendistill.files import write_atomically
from tokendistill.metrics.bootstrap import seed_interval
from tokendistill.metrics.paired import paired_comparison
from tokendistill.metrics.paired import verdict as paired_verdict
from tokendistill.training.config import TrainConfig
from tokendistill.training.evaluation import evaluate_model
from tokendistill.training.models import build_tiny_for_task
from tokendistill.training.student import train_student
from tokendistill.training.teacher import train_teacher

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
RESULT_FILE = "result.json"


# ----------------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """``function(folder, **kwargs) -> dict`` (a module-level function, so worker processes can import
    it); ``folder`` is ``<work_dir>/<key>``. ``deps`` are keys of jobs that must finish first."""

    key: str
    function: Callable[..., dict[str, Any]]
    kwargs: Mapping[str, Any]
    deps: tuple[str, ...] = ()


def quiet_worker(threads: int) -> None:
    """Set up a process for benchmark jobs: ``threads`` torch threads, no progress bars or library chatter."""
    torch.set_num_threads(threads)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.getLogger("tokendistill").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)


def _run_job(function: Callable[..., dict[str, Any]], folder: Path, kwargs: Mapping[str, Any]) -> dict:
    started = time.perf_counter()
    # A folder without a result is what an interrupted job left (half a checkpoint): start it again.
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    result = {**function(folder, **kwargs), "job_seconds": time.perf_counter() - started}
    write_atomically(folder / RESULT_FILE, (json.dumps(result, indent=1) + "\n").encode("utf-8"))
    return result


def read_result(folder: Path) -> dict[str, Any] | None:
    path = folder / RESULT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def check_settings(work_dir: Path, settings: Mapping[str, Any]) -> None:
    """Results are kept by job key, so a work folder must not mix runs made with other shared settings.

    The first run records ``settings`` in ``<work_dir>/settings.json``; a later run with other values stops
    with the differences named instead of reusing results that no longer match.
    """
    path = work_dir / "settings.json"
    current = json.loads(json.dumps(settings, default=str))
    if path.is_file():
        recorded = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in {*recorded, *current} if recorded.get(key) != current.get(key))
        if changed:
            details = ", ".join(f"{key}: {recorded.get(key)!r} -> {current.get(key)!r}" for key in changed)
            raise SystemExit(
                f"{work_dir} holds results made with other settings ({details}); "
                "use another --work-dir or delete that folder"
            )
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(current, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def run_jobs(
    jobs: Sequence[Job],
    work_dir: Path,
    *,
    workers: int,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Bring every job up to date and return its result by key.

    Jobs run in list order among those whose ``deps`` are done, ``workers`` at a time (``workers=1`` runs
    them in this process). A failed job stops new jobs from starting; the error is raised once the running
    ones finish.
    """
    results: dict[str, dict[str, Any]] = {}
    for job in jobs:
        done = read_result(work_dir / job.key)
        if done is not None:
            results[job.key] = done
    pending = [job for job in jobs if job.key not in results]
    already_done = len(results)
    log(f"{len(jobs)} jobs: {already_done} already done, {len(pending)} to run on {workers} worker(s)")
    started = time.perf_counter()

    def report(job: Work, result: dict[str, Any]) -> None:
        results[job.key] = result
        summary = f"accuracy {result['accuracy']:.3f}" if "accuracy" in result else ""
        log(
            f"[{len(results) - already_done}/{len(pending)}, "
            f"{time.perf_counter() - started:.0f}s] {job.key}: {result['job_seconds']:.0f}s {summary}"
        )

    if workers == 1:
        quiet_worker(threads)
    else:
        # Read by tqdm when the workers import it (evaluation and attribution draw progress bars).
        os.environ.setdefault("TQDM_DISABLE", "1")
    run_graph(
        [Work(j.key, j.deps, _run_job, (j.function, work_dir / j.key, j.kwargs)) for j in pending],
        jobs=workers,
        finished=results.keys(),
        worker_init=partial(quiet_worker, threads),
        after=report,
        failed=lambda job, error: log(f"{job.key}: failed: {error!r}"),
    )
    return results


# ------------------------------------------------------------------------------------ student cells


@dataclass(frozen=True)
class StudentRecipe:
    """How every student of a benchmark is built and trained (the seed comes from the cell).

    ``architecture``, ``size`` and ``vocab_size`` shape the tiny model built when the cell is given no
    ``init``.
    """

    train: TrainConfig
    size: str = "tiny"
    vocab_size: int = 2000
    architecture: str = "t5"  # a tokendistill.models.tiny architecture: t5, bart, llama, gpt2
    alpha: float = 0.5
    eval_batch_size: int = 256


def student_cell(
    folder: Path,
    *,
    task: Task,
    mode: str,
    seed: int,
    recipe: StudentRecipe,
    data_dir: Path | None = None,
    k: int = 5,
    rationales_path: Path | None = None,
    rationales: Mapping[str, str] | None = None,
    init: Path | None = None,
) -> dict[str, Any]:
    """Train a student in ``mode`` and score it on test; per-example correctness is kept for pairing.

    The student starts from ``init`` when given (a prepared model), else from a tiny model built here
    (tokenizer trained on the task's training text, weights seeded by ``seed``). Students of every mode
    with the same seed start from the same weights, so seed-paired differences compare the modes, not the
    initialisations.
    """
    if init is None:
        init = build_tiny_for_task(
            task,
            folder / "init",
            data_dir=data_dir,
            architecture=recipe.architecture,
            size=recipe.size,
            vocab_size=recipe.vocab_size,
            seed=seed,
        )
    config = replace(recipe.train, seed=seed)
    trained = train_student(
        init,
        task,
        folder / "model",
        mode=mode,  # type: ignore[arg-type]
        data_dir=data_dir,
        rationales_path=rationales_path,
        rationales=rationales,
        alpha=recipe.alpha,
        k=k,
        config=config,
    )
    return {
        **score_on_test(
            folder / "model", task, folder / "test", recipe.train, recipe.eval_batch_size, data_dir
        ),
        "validation_accuracy": trained.validation_accuracy,
        "global_step": trained.global_step,
        "best_checkpoint": trained.best_checkpoint,
        "explain_skipped": trained.explain_skipped,
    }


def score_on_test(
    model_dir: Path,
    task: Task,
    output_dir: Path,
    train: TrainConfig,
    batch_size: int,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Test-split accuracy with its bootstrap interval, and the per-example outcomes in test order."""
    metrics = evaluate_model(
        model_dir,
        task,
        "test",
        output_dir,
        data_dir=data_dir,
        batch_size=batch_size,
        max_new_tokens=train.max_new_tokens,
        max_input_length=train.max_input_length,
    )
    rows = (output_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    correct = [bool(json.loads(row)["correct"]) for row in rows]
    return {key: metrics[key] for key in ("n", "accuracy", "ci_low", "ci_high")} | {"correct": correct}


def teacher_cell(
    folder: Path,
    *,
    task: Task,
    init: Path | str,
    train: TrainConfig,
    eval_batch_size: int,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Fine-tune the teacher from ``init`` (the best validation checkpoint is kept); score it on test."""
    trained = train_teacher(init, task, folder / "model", data_dir=data_dir, config=train)
    return {
        **score_on_test(folder / "model", task, folder / "test", train, eval_batch_size, data_dir),
        "validation_accuracy": trained.validation_accuracy,
        "global_step": trained.global_step,
    }


def rationale_cell(
    folder: Path,
    *,
    teacher: Path,
    task: Task,
    method: str,
    options: Mapping[str, Any],
    k: int,
    more_k: Sequence[int] = (),
    evidence_k: Sequence[int] = (),
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """The teacher's top-``k`` rationales for the training split (``train-k<k>.jsonl``), the same scores cut
    at each of ``more_k``, and how often they find the evidence words (examples that have evidence only)."""
    started = time.perf_counter()
    path = generate_rationales(
        teacher, task, "train", folder / f"train-k{k}.jsonl", data_dir=data_dir, method=method, k=k,
        batch_size=32, show_progress=False, **options,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    examples = task.load("train", data_dir)
    for other in more_k:
        if other != k:
            rationales_at_k(path, examples, other, folder / f"train-k{other}.jsonl")
    evidence = evidence_at_k(path, examples, evidence_k)
    return {
        "examples": len(examples),
        "attribution_seconds": seconds,
        "evidence": {str(k): value for k, value in evidence.items()},
    }


# --------------------------------------------------------------------------- rationales and evidence


def rationales_at_k(path: Path, examples: Sequence[Example], k: int, output: Path) -> Path:
    """A rationale file with the top-``k`` words of ``path``'s scores (no new attribution is needed)."""
    by_id = {example.id: example for example in examples}
    records = []
    for record in read_rationale_file(path):
        chosen = top_words(record, by_id[record.id], k)
        text = " ".join(word.text for word in chosen)
        records.append(replace(record, k=k, rationale=text))
    return write_rationale_file(output, records)


def top_words(record: RationaleRecord, example: Example, k: int) -> list:
    """The top-``k`` candidate words of a stored record, by the attribution module's own selection rule."""
    return select_rationale(record.words, k, excluded_spans=example.template_spans())


def evidence_at_k(path: Path, examples: Sequence[Example], ks: Sequence[int]) -> dict[int, dict[str, float]]:
    """How well the teacher's top-k words find each example's evidence words, with chance levels.

    Per k, averaged over the examples that have evidence words: ``precision`` (share of the top-k words that
    are evidence), ``recall`` (share of the evidence words in the top-k), ``hit`` (the top-k holds at least
    one evidence word), each next to what k uniformly random candidate words give in expectation
    (``tokendistill.attribution.evidence``).
    """
    by_id = {example.id: example for example in examples}
    rows = []
    for record in read_rationale_file(path):
        example = by_id[record.id]
        if evidence_words(example):
            rows.append((record, example))
    if not rows:
        return {}
    table: dict[int, dict[str, float]] = {}
    for k in ks:
        scores = [evidence_score(example, top_words(record, example, k), k) for record, example in rows]
        table[k] = mean_evidence(scores) | {"examples": len(rows)}
    return table


# -------------------------------------------------------------------------------------- statistics


def seed_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean test accuracy over seeds with its Student-t 95% interval (nan bounds for one seed)."""
    accuracies = [result["accuracy"] for result in results]
    interval = seed_interval(accuracies)
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "per_seed": accuracies}


def paired_summary(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy of A minus B, cells paired by seed (same test examples, same initial weights), as a dict of
    ``tokendistill.metrics.paired.paired_comparison``'s numbers.

    ``seed_low``/``seed_high``: t-interval of the per-seed differences (training randomness).
    ``test_low``/``test_high``: paired bootstrap over test examples of the per-example correctness averaged
    over seeds (which test examples happened to be drawn).
    """
    if len(a) != len(b):
        raise ValueError(f"paired cells need the same seeds: {len(a)} vs {len(b)} results")
    p = paired_comparison([x["correct"] for x in a], [y["correct"] for y in b])
    return {
        "mean": p.mean,
        "seed_low": p.seed_low,
        "seed_high": p.seed_high,
        "test_low": p.test_low,
        "test_high": p.test_high,
        "a_better_seeds": p.a_better_seeds,
        "seeds": p.seeds,
    }


def percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100 * value:.1f}"


def interval_text(mean: float, low: float, high: float) -> str:
    """``72.1 [68.0, 76.2]`` in percent; ``72.1 [n/a]`` when the interval is undefined (one seed)."""
    if math.isnan(low) or math.isnan(high):
        return f"{percent(mean)} [n/a]"
    return f"{percent(mean)} [{percent(low)}, {percent(high)}]"


def seed_summary_text(summary: Mapping[str, Any]) -> str:
    """``interval_text`` of a ``seed_summary`` (mean and t-interval over seeds)."""
    return interval_text(summary["mean"], summary["low"], summary["high"])


def signed_interval_text(mean: float, low: float, high: float) -> str:
    """A difference in percentage points: ``+3.1 [-0.4, +6.6]``."""

    def signed(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{100 * value:+.1f}"

    return f"{signed(mean)} [{signed(low)}, {signed(high)}]"


def paired_table(group: str, rows: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
    """Markdown lines of paired differences; each row is (group value, "A - B", ``paired_summary``)."""
    lines = [
        "Seed-paired: the same seed gives the same initial weights and data order in both modes; the "
        "interval is the t-interval of the per-seed differences. Test-bootstrap: paired bootstrap over test "
        "examples of the per-example correctness averaged over seeds.",
        "",
        f"| {group} | A - B | difference [seed interval] | test-bootstrap interval | seeds A > B | verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    for value, name, p in rows:
        lines.append(
            f"| {value} | {name} | {signed_interval_text(p['mean'], p['seed_low'], p['seed_high'])} | "
            f"{signed_interval_text(p['mean'], p['test_low'], p['test_high'])} | "
            f"{p['a_better_seeds']}/{p['seeds']} | {verdict(p)} |"
        )
    return lines


def evidence_row(e: Mapping[str, float]) -> str:
    """precision, recall and hit at k next to their chance levels, in percent, as Markdown cells."""
    names = ("precision", "precision_chance", "recall", "recall_chance", "hit", "hit_chance")
    return " | ".join(f"{100 * e[name]:.1f}" for name in names)


EVIDENCE_NOTE = (
    "precision = share of the top-k words that are evidence words; recall = share of the evidence words in "
    "the top-k; hit = the top-k holds any evidence word; chance = the same for k random candidate words."
)
EVIDENCE_HEADER = "precision | chance | recall | chance | hit | chance |"


def verdict(paired: Mapping[str, Any]) -> str:
    """Plain words for a ``paired_summary``: does either interval exclude zero, and in which direction."""
    bounds = (paired[name] for name in ("seed_low", "seed_high", "test_low", "test_high"))
    return paired_verdict(*bounds).text()


# --------------------------------------------------------------------------------------- reporting


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(workers: int, threads: int) -> dict[str, Any]:
    return {
        "device_name": cpu_name(),
        "cpu_count": os.cpu_count(),
        "workers": workers,
        "torch_threads_per_worker": threads,
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
    }


def default_paths(args: argparse.Namespace, name: str, argv: Sequence[str] | None) -> None:
    """Fill ``args.argv`` and the folders left unset: results in ``results/`` (``results/smoke/`` for
    ``--smoke``) and, where the script has ``--work-dir``, jobs under ``runs/benchmarks/<name>[-smoke]``."""
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.output_dir is None:
        args.output_dir = RESULTS_DIR / "smoke" if args.smoke else RESULTS_DIR
    if getattr(args, "work_dir", False) is None:
        args.work_dir = REPO_ROOT / "runs" / "benchmarks" / (f"{name}-smoke" if args.smoke else name)


def job_report_header(
    script: str, argv: Sequence[str], env: Mapping[str, Any], started: float, results: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields every job benchmark's report starts with: command, machine, wall and job time."""
    return {
        "command": " ".join([f"python benchmarks/{script}", *argv]),
        "environment": env,
        "wall_seconds": time.perf_counter() - started,
        "job_minutes": sum(result["job_seconds"] for result in results.values()) / 60,
    }


def job_invocation_text(report: Mapping[str, Any]) -> str:
    """The Markdown line saying which command made a job benchmark's report, where, and how long it took."""
    return (
        f"`{report['command']}` on {machine_text(report['environment'])}; {report['wall_seconds'] / 60:.1f} "
        f"min wall for this invocation, {report['job_minutes']:.0f} min of job time in all (jobs finished by "
        "an earlier invocation of the same command are reused)."
    )


def machine_text(env: Mapping[str, Any]) -> str:
    """One line naming the machine and how busy it was, for a benchmark's Markdown."""
    load = env["load_average_at_start"]
    return (
        f"{env['device_name']} ({env['cpu_count']} cores, {env['workers']} job(s) at once with "
        f"{env['torch_threads_per_worker']} torch thread(s) each"
        + (f", load average {load:.1f} at the start" if load is not None else "")
        + f"), torch {env['torch']}, transformers {env['transformers']}"
    )


def cell_text(result: Mapping[str, Any]) -> str:
    """A single model's test accuracy with its bootstrap interval over test examples."""
    return interval_text(result["accuracy"], result["ci_low"], result["ci_high"])


def write_outputs(output_dir: Path, name: str, report: Mapping[str, Any], markdown: str) -> None:
    """``<name>.json`` and ``<name>.md`` in ``output_dir``, and the Markdown printed."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (output_dir / f"{name}.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def without_outcomes(results: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Job results for the JSON report, less the per-example outcomes (kept in the work folder)."""
    return {key: {k: v for k, v in result.items() if k != "correct"} for key, result in results.items()}
