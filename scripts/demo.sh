#!/usr/bin/env bash
# The README demo (`make demo`): the `quick` reproduction of Ma, Pan & Farahmand (TMLR 2023) on the real
# Fashion-MNIST with the paper's c2 CNN.  Trains the same model from the same initial weights, on the same
# batches, with SGD, Adam and RMSprop (2 seeds), runs every evaluation (clean, FGSM/PGD, Gaussian and
# band-limited noise, Fourier heat maps, Lipschitz bounds), a short irrelevant-frequency run and the linear
# theory, draws every figure, writes report.md, and prints the optimizers side by side.
# Re-running it resumes / skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${ROBUSTOPT_OUTPUT_DIR:-outputs}
export ROBUSTOPT_OUTPUT_DIR=$OUT

bash scripts/reproduce.sh quick "$@"
echo
.venv/bin/python scripts/compare_runs.py "$OUT/multiruns/reproduce_quick"
echo
echo "Report:          $OUT/reproduce/quick/report.md  (figures in $OUT/reproduce/quick/figures/)"
echo "Run directories: $OUT/multiruns/reproduce_quick/*  (config.yaml, meta.json, metrics.jsonl, summary.json, checkpoints/)"
