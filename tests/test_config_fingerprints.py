"""Stage fingerprints of existing configs never change by accident.

A run folder keeps every finished stage whose fingerprint still matches its config, so a refactoring that
changes what a config dumps (a new field, a renamed one, another default) would make every run made before
it start over. Each shipped config and a few hermetic ones that set the less common fields are pinned here:
one digest of the plan's ``{stage: fingerprint}`` mapping per config. The shared data folder's absolute
path is part of a task's fingerprint; it is written back as ``../shared/data`` first, so the digests do not
depend on where the checkout is.

A deliberate change of a stage's inputs updates the digests: ``python tests/test_config_fingerprints.py``
prints the current ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tokendistill.experiment.config import load_config
from tokendistill.experiment.plan import build_plan
from tokendistill.experiment.runner import plan_fingerprints

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"  # what the shipped configs call ../shared/data

# Written with the code of commit 6810322 (before training settings were declared once).
PINNED = {
    "configs/local/anli1.yaml": "29 stages, e3b19a0051e990d4",
    "configs/local/cqa.yaml": "29 stages, 10d038e49d601392",
    "configs/local/esnli-pretrained.yaml": "136 stages, 6aee3a6caf11be86",  # + IG, alpha and seed sweeps
    "configs/local/esnli.yaml": "29 stages, 189fecf365da82dd",
    "configs/local/svamp.yaml": "29 stages, c0c00f2c6820e166",
    "configs/local/minilm/anli1.yaml": "29 stages, 4502f6f0e26c1f0d",
    "configs/local/minilm/cqa.yaml": "29 stages, c47f776e455c2f13",
    "configs/local/minilm/esnli.yaml": "29 stages, 5f81f09e1846289d",
    "configs/local/minilm/svamp.yaml": "29 stages, 6ed454365abe0ca2",
    "configs/local/synthetic-causal.yaml": "11 stages, 08378420b982a4a9",
    "configs/local/synthetic-curve.yaml": "78 stages, 36aa228137b57510",  # + a training-set size sweep
    "configs/modern/anli1.yaml": "29 stages, 28e53363fecff1dd",
    "configs/modern/cqa.yaml": "29 stages, bbeedb06e01ae951",
    "configs/modern/esnli-flan-t5-teacher.yaml": "29 stages, 506ab3e50061af87",
    "configs/modern/esnli.yaml": "29 stages, 1f5cb9f3996a54f6",
    "configs/modern/svamp.yaml": "29 stages, 5e3d97d27990a3e5",
    "configs/paper/anli1.yaml": "53 stages, 5841273f84d322fa",
    "configs/paper/cqa.yaml": "53 stages, a7dd1732f53db183",
    "configs/paper/esnli.yaml": "53 stages, 3c104367016731af",
    "configs/paper/svamp.yaml": "53 stages, dccd94b1b39933dc",
    "hermetic/defaults": "11 stages, 13e16801867cf371",
    "hermetic/every-training-field": "11 stages, 655ce13f448931b7",
    "hermetic/integrated-gradients": "14 stages, 2f5a541659279c25",
    "hermetic/integrated-gradients-zero": "16 stages, 0374f62c9d5df77f",
}

HERMETIC = """\
output_dir: runs/x
task:
  name: synthetic-nli
  options: {size: 40}
teacher:
  tiny: {size: tiny}
students:
  models:
    - name: s
      tiny: {}
"""
EVERY_TRAINING_FIELD = (
    "{learning_rate: 1.0e-3, batch_size: 8, eval_batch_size: 16, gradient_accumulation_steps: 2, "
    "max_steps: 30, eval_steps: 10, save_total_limit: null, logging_steps: 5, warmup_steps: 3, "
    "weight_decay: 0.01, learning_rate_multipliers: {decoder: 2.0}, task_passes: 2, max_input_length: 64, "
    "max_target_length: 16, max_new_tokens: 8, bf16: false, report_to: [tensorboard], "
    "training_args: {lr_scheduler_type: constant}}"
)
# Overrides on HERMETIC.
HERMETIC_CASES = {
    "hermetic/defaults": [],
    "hermetic/every-training-field": [
        f"teacher.training={EVERY_TRAINING_FIELD}",
        f"students.training={EVERY_TRAINING_FIELD}",
    ],
    "hermetic/integrated-gradients": ["sweeps.methods=[integrated_gradients]", "attribution.n_steps=8"],
    "hermetic/integrated-gradients-zero": [
        "attribution.method=integrated_gradients",
        "attribution.baseline=zero",
        "sweeps.k=[2]",
    ],
}


def portable_fingerprints(config_path: Path, overrides: list[str], base_dir: Path) -> dict[str, str]:
    """The plan's fingerprints with the shared data folder written as ``../shared/data``."""
    config = load_config(config_path, overrides, base_dir=base_dir)
    shared = json.dumps(str(SHARED_DATA.resolve()))[1:-1]

    def portable(inputs: object) -> object:
        return json.loads(json.dumps(inputs).replace(shared, "../shared/data"))

    return plan_fingerprints([replace(stage, inputs=portable(stage.inputs)) for stage in build_plan(config)])


def digest(fingerprints: dict[str, str]) -> str:
    text = json.dumps(fingerprints, sort_keys=True)
    return f"{len(fingerprints)} stages, " + hashlib.sha256(text.encode()).hexdigest()[:16]


def current_digest(name: str, tmp_path: Path) -> str:
    if name in HERMETIC_CASES:
        path = tmp_path / "config.yaml"
        path.write_text(HERMETIC)
        return digest(portable_fingerprints(path, HERMETIC_CASES[name], tmp_path))
    path = REPO_ROOT / name
    if "../shared/data" in path.read_text() and not SHARED_DATA.is_dir():
        pytest.skip(f"{name} reads the shared data folder, not found at {SHARED_DATA}")
    return digest(portable_fingerprints(path, [], REPO_ROOT))


def test_every_shipped_config_is_pinned():
    shipped = {str(path.relative_to(REPO_ROOT)) for path in REPO_ROOT.glob("configs/**/*.yaml")}
    assert shipped == {name for name in PINNED if name.startswith("configs/")}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_stage_fingerprints_stay_as_pinned(name, tmp_path):
    assert current_digest(name, tmp_path) == PINNED[name], f"the stage fingerprints of {name} changed"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for name in sorted(PINNED):
            print(f'    "{name}": "{current_digest(name, Path(folder))}",')
