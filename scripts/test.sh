#!/usr/bin/env bash
# The project's test command: set-up, lint, then the test suite (arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
# The report's browser test needs chromium: installed here only when it is missing and this is root with
# apt-get (TOKENDISTILL_INSTALL_CHROMIUM=0 turns that off); never fails the tests, which then skip that check.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
    && [ "${TOKENDISTILL_INSTALL_CHROMIUM:-1}" != 0 ]; then
  (timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq chromium) \
    >/dev/null 2>&1 || echo "note: could not install chromium; the report's browser test will be skipped"
fi
.venv/bin/python -m pytest "$@"
