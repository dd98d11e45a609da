"""The CLI, the experiment runner and the data layer load without torch, so `--help`, config checks and data
validation start in a fraction of a second; torch is imported only by the stages that compute."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

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


EXPERIMENT = "tokendistill.experiment"
REPORT = "tokendistill.report"


def _experiment_modules() -> dict[str, Path]:
    """The file of every module of the tokendistill.experiment package, by module name."""
    folder = Path(importlib.util.find_spec(EXPERIMENT).origin).parent
    return {
        EXPERIMENT if path.stem == "__init__" else f"{EXPERIMENT}.{path.stem}": path
        for path in sorted(folder.glob("*.py"))
    }


def _imported_names(module: str, path: Path) -> set[str]:
    """The absolute names the file's import statements name, those inside functions included."""
    package = module.split(".") if path.stem == "__init__" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join([*parts, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _report_modules(names) -> list[str]:
    return sorted(name for name in names if name == REPORT or name.startswith(REPORT + "."))


def test_the_experiment_package_never_imports_the_report():
    """tokendistill.report reads runs through tokendistill.experiment (plan, runner); the experiment must not
    import the report back, neither when a module loads nor inside a function."""
    modules = _experiment_modules()
    assert f"{EXPERIMENT}.stages" in modules and f"{EXPERIMENT}.runner" in modules
    for module, path in modules.items():
        assert not _report_modules(_imported_names(module, path)), f"{path.name} imports the report"
    check = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        f"loaded = [n for n in sys.modules if n == {REPORT!r} or n.startswith({REPORT + '.'!r})]\n"
        "sys.exit(' '.join(loaded) or None)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, *modules], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"importing the experiment package loaded {result.stderr}"
