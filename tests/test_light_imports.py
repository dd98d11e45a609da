"""The CLI, the experiment runner and the data layer load without torch, so `--help`, config checks and data
validation start in a fraction of a second; torch is imported only by the stages that compute."""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT_MODULES = [
    "tokendistill.cli",
    "tokendistill.experiment.runner",
    "tokendistill.data",
    "tokendistill.files",
]


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_module_imports_without_torch(module):
    check = f"import sys, {module}; sys.exit('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"importing {module} loaded torch\n{result.stderr}"
