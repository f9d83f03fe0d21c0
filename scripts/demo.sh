#!/usr/bin/env bash
# The README demo (`make demo`): a short, real reproduction on Fashion-MNIST with the paper's c2 CNN.
# Trains the same model from the same initial weights with SGD, Adam and RMSprop (experiment=quick),
# runs the evaluations, and prints the results side by side.  About 10 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${ROBUSTOPT_OUTPUT_DIR:-outputs}
export ROBUSTOPT_OUTPUT_DIR=$OUT

echo "== training c2 on Fashion-MNIST with SGD, Adam and RMSprop (same initial weights, same batches)"
$PY experiments/train.py -m experiment=quick optimizer=sgd,adam,rmsprop "$@"

echo
$PY scripts/compare_runs.py "$OUT/multiruns/quick"
echo
echo "Run directories: $OUT/multiruns/quick/*  (config.yaml, meta.json, metrics.jsonl, summary.json, checkpoints/)"
echo "W&B (offline): wandb sync $OUT/multiruns/quick/*/wandb/offline-run-*"
