"""``tokendistill run``: one experiment from one YAML file, stage by stage, skipping what is up to date."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from tokendistill.experiment.config import ExperimentConfig, load_config
from tokendistill.experiment.plan import REPORT, Stage, StageKind, build_plan, select_stages
from tokendistill.experiment.runner import StageFunction, plan_fingerprints, run_plan, stage_status
from tokendistill.experiment.stages import COMPUTE_IMPLEMENTATIONS, set_torch_threads
from tokendistill.report.stage import report_stage
from tokendistill.settings import PositiveInt, flag_type

# The experiment package implements every stage but the report, which the report package implements.
IMPLEMENTATIONS: dict[StageKind, StageFunction] = {**COMPUTE_IMPLEMENTATIONS, "report": report_stage}

HELP = (
    "Run an experiment from a YAML config: teacher -> rationales -> students -> evaluation -> report. "
    "Finished stages whose config did not change are skipped; an interrupted stage resumes."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="experiment config (YAML), e.g. configs/local/cqa.yaml")
    add_run_arguments(parser, jobs=1, threads=None)
    parser.add_argument(
        "--only",
        action="append",
        metavar="STAGE",
        help="run only the stages whose key matches this glob, and what they need (repeatable): "
        "--only eval/teacher checks the teacher before rationales and students; keys as --status prints them",
    )


def add_run_arguments(parser: argparse.ArgumentParser, *, jobs: int, threads: int | None) -> None:
    """The arguments ``run`` and ``demo`` share (with their own defaults for jobs and threads)."""
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="override config fields by dotted path, values parsed as YAML (students.alpha=0.3, seeds=[0,1])",
    )
    parser.add_argument(
        "--status",
        action="store_true",
        help="print each stage's status (done/interrupted/outdated/new) and exit",
    )
    parser.add_argument(
        "--jobs",
        type=flag_type(PositiveInt),
        default=jobs,
        help=f"stages run at once, each in its own process, when their inputs are ready (default {jobs})",
    )
    threads_default = "torch's choice" if threads is None else threads
    parser.add_argument(
        "--threads",
        type=flag_type(PositiveInt),
        default=threads,
        help=f"torch CPU threads per stage (default {threads_default})",
    )


def chosen_plan(config: ExperimentConfig, args: argparse.Namespace) -> list[Stage]:
    """The config's plan, or the part of it that ``--only`` asks for."""
    plan = build_plan(config)
    only = getattr(args, "only", None)  # demo shares execute and has no --only
    return select_stages(plan, only) if only else plan


def print_status(config: ExperimentConfig, plan: list[Stage]) -> None:
    fingerprints = plan_fingerprints(plan)
    for stage in plan:
        print(f"{stage_status(config.output_dir / stage.key, fingerprints[stage.key]):12} {stage.key}")


def execute(config: ExperimentConfig, args: argparse.Namespace) -> int:
    """Run (or, with ``--status``, describe) ``config``; print where the report is."""
    plan = chosen_plan(config, args)
    if args.status:
        print_status(config, plan)
        return 0
    worker_init = None
    if args.threads is not None:
        set_torch_threads(args.threads)
        worker_init = partial(set_torch_threads, args.threads)
    # Bad input data met by a stage reaches the user as one line through cli.main.
    run_plan(config, plan, IMPLEMENTATIONS, jobs=args.jobs, worker_init=worker_init)
    report = config.output_dir / REPORT
    if any(stage.key == REPORT for stage in plan):
        print(f"report: {report / 'report.html'}\n        {report / 'report.md'}")
    return 0


def run(args: argparse.Namespace) -> int:
    return execute(load_config(args.config, args.overrides), args)
