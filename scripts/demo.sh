#!/usr/bin/env bash
# The main job on the built-in default: set-up, then the synthetic end-to-end demo (arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/tokendistill demo "$@"
