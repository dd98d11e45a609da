#!/usr/bin/env bash
# Runs every benchmark at smoke size (seconds each) so CI catches a broken benchmark; real runs: benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
for script in benchmarks/attribution_speed.py benchmarks/attribution_gpu.py benchmarks/student_step.py \
    benchmarks/synthetic_curve.py benchmarks/replicate_local.py benchmarks/demo.py; do
  echo "== smoke: $script"
  .venv/bin/python "$script" --smoke
done
echo "== smoke: benchmarks/replicate_local.py --student minilm-l2"
.venv/bin/python benchmarks/replicate_local.py --smoke --student minilm-l2
