#!/usr/bin/env bash
# Creates .venv (if missing) and installs tokendistill with its dev tools into it.
# - The venv sees system site-packages, so a torch the user already has (e.g. a CUDA build) is reused.
# - Only when no torch is importable do we install one, pinned so pip never resolves the newest CUDA
#   wheels on a CPU-only machine. Override with TOKENDISTILL_TORCH_SPEC (e.g. "torch==2.5.1") and
#   TOKENDISTILL_TORCH_PIP_ARGS (e.g. "--index-url <a CPU wheel index>").
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv --system-site-packages .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  .venv/bin/pip install --quiet ${TOKENDISTILL_TORCH_PIP_ARGS:-} "${TOKENDISTILL_TORCH_SPEC:-torch==2.13.0}"
fi
stamp=.venv/.tokendistill-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
