"""One command per experiment: the YAML config and the stage plan derived from it.

The runner that brings a run folder up to date is ``tokendistill.experiment.runner`` and the real stage
implementations are ``tokendistill.experiment.stages``; both import torch, so they are not imported here
and loading or checking a config stays light. The report stage's implementation is
``tokendistill.report.stage``: the report reads runs through this package, which never imports the report.
"""

from tokendistill.experiment.config import ExperimentConfig, apply_overrides, load_config, validate_config
from tokendistill.experiment.demo import DEMO_CONFIG, demo_config
from tokendistill.experiment.plan import Stage, StudentVariant, build_plan

__all__ = [
    "DEMO_CONFIG",
    "ExperimentConfig",
    "Stage",
    "StudentVariant",
    "apply_overrides",
    "build_plan",
    "demo_config",
    "load_config",
    "validate_config",
]
