"""The built-in demo: a complete experiment on the synthetic NLI task with tiny models built here.

No download and no GPU: a tiny T5 teacher learns the task, its saliency picks each training example's
top-5 words, and tiny students learn the task in the standard, teacher-token and random-token modes over
three seeds. Sized to finish in a few minutes on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokendistill.experiment.config import ExperimentConfig, apply_overrides, validate_config

# What every tiny model's training shares: short inputs, and no progress bars or per-step logs in the demo.
_TRAINING: dict[str, Any] = {
    "batch_size": 32,
    "eval_batch_size": 200,
    "eval_steps": 250,
    "logging_steps": 250,
    "max_input_length": 128,
    "max_target_length": 32,
    "max_new_tokens": 16,
    "training_args": {"disable_tqdm": True},
}

DEMO_CONFIG: dict[str, Any] = {
    "output_dir": "runs/demo",
    "task": {"name": "synthetic-nli", "options": {"size": 2000, "validation_size": 200, "test_size": 400}},
    "teacher": {
        "tiny": {"size": "tiny", "vocab_size": 300},
        "training": {**_TRAINING, "learning_rate": 1e-3, "max_steps": 1000},
    },
    "attribution": {"method": "saliency", "k": 5, "batch_size": 64},
    "students": {
        "models": [{"name": "tiny-t5", "tiny": {"size": "tiny", "vocab_size": 300}}],
        "modes": ["standard", "rationale", "random"],
        "alpha": 0.5,
        "training": {**_TRAINING, "learning_rate": 2e-3, "max_steps": 500},
    },
    "seeds": [0, 1, 2],
    "evaluation": {"batch_size": 200},
    "report": {"heatmap_examples": 6},
}


def demo_config(overrides: list[str] | None = None, base_dir: str | Path | None = None) -> ExperimentConfig:
    """The demo's config with ``overrides`` (``key.sub=value``) applied."""
    return validate_config(
        apply_overrides(DEMO_CONFIG, overrides or []), source="demo config", base_dir=base_dir
    )
