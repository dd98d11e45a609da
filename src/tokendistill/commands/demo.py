"""``tokendistill demo``: the built-in experiment on a synthetic task with tiny models, end to end."""

from __future__ import annotations

import argparse

import yaml

from tokendistill.commands.run import add_run_arguments, execute
from tokendistill.experiment.demo import DEMO_CONFIG, demo_config

HELP = (
    "Run the built-in demo: tiny teacher, saliency rationales, students in standard, teacher-token and "
    "random-token modes on the synthetic NLI task, and the report. No download, no GPU, a few minutes."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Models this small train fastest on one thread; two stages at a time keep two cores busy.
    add_run_arguments(parser, jobs=2, threads=1)
    parser.add_argument("--print-config", action="store_true", help="print the demo config as YAML and exit")


def run(args: argparse.Namespace) -> int:
    if args.print_config:
        print(yaml.safe_dump(DEMO_CONFIG, sort_keys=False), end="")
        return 0
    return execute(demo_config(args.overrides), args)
