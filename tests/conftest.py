"""Shared fixtures: a single torch thread (CI has two cores), the shared data folder, tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TOKENDISTILL_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The staged benchmark folder; tests that need it skip with the reason when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"shared benchmark data not found at {SHARED_DATA} (set TOKENDISTILL_SHARED_DATA)")
    return SHARED_DATA
