#!/usr/bin/env bash
# The optimizer zoo under a fair protocol (conf/experiment/optimizer_zoo.yaml, docs/optimizers.md):
#   1. learning-rate sweep, one seed: each optimizer at its default lr x {1/3, 1, 3}, the same budget; where the best
#      lr is the smallest or largest tried, the grid grows by x3 in that direction (MAX_EXTEND times at most);
#   2. each optimizer's lr chosen on validation accuracy (never test accuracy; ties to the smaller lr);
#   3. final sweep: SEEDS seeds at each optimizer's chosen lr;
#   4. experiments/evaluate.py on the final runs, at the final epoch and at matched standard accuracy;
#   5. paper_figures/optimizer_zoo.py: the table, scatter plots and the verdict on "sharper minima are less robust".
# Re-running resumes (finished runs are skipped).  Settings (environment variables):
#   OPTIMIZERS  the zoo (default below)          SEEDS   final seeds (default 0,1,2)
#   OUT         output folder (default outputs)  EVAL_SHARDS  evaluation processes at once (default 1)
#   BUDGET      the budget line printed with the table (default: the preset's)
#   MAX_EXTEND  how many times an edge choice may grow its grid (default 2; 0: never, the table marks the edge)
#   EXTRA       more overrides for every run (training and its evaluation options), e.g. a tiny check:
#   OPTIMIZERS="sgd adam" SEEDS=0,1 EXTRA="epochs=1 epoch_size=512 dataset.validation_size=256 dataset.test_subset=20" \
#     bash scripts/optimizer_zoo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
OUT=${OUT:-outputs}
OPTIMIZERS=${OPTIMIZERS:-"sgd momentum nesterov adagrad adadelta rmsprop adam adamw nadam adamax radam signsgd lamb lion scalable_shampoo lookahead sam"}
SEEDS=${SEEDS:-0,1,2}
EXTRA=${EXTRA:-}
LR_DIR="$OUT/multiruns/optimizer_zoo_lr"
FINAL_DIR="$OUT/multiruns/optimizer_zoo_final"
# shellcheck disable=SC2206
COMMON=(experiment=optimizer_zoo logger=none progress=false "paths.output_dir=$OUT" $EXTRA)
EVALS="clean,robust_accuracy,gaussian_noise,band_noise,lipschitz"
if "$PY" -c "import sys; from robustopt.evaluation import EVALUATIONS; sys.exit('sharpness' not in EVALUATIONS)"; then
  EVALS="$EVALS,sharpness"
else
  echo "note: no 'sharpness' evaluation in this checkout; the table shows — for the Hessian columns" >&2
fi
start=$(date +%s)

echo "== 1. learning-rate sweep (seed 0): $OPTIMIZERS"
for opt in $OPTIMIZERS; do
  grid=$("$PY" -m robustopt.cli.zoo grid "${COMMON[@]}" "optimizer=$opt")
  "$PY" experiments/train.py -m "${COMMON[@]}" "optimizer=$opt" "$grid" seed=0 experiment_name=optimizer_zoo_lr
done

MAX_EXTEND=${MAX_EXTEND:-2}
echo "== 1b. optimizers whose best lr is an edge of the grid: the next lr beyond it (x3 or /3), up to $MAX_EXTEND times"
for ((round = 0; round < MAX_EXTEND; round++)); do
  more=$("$PY" -m robustopt.cli.zoo extend "$LR_DIR")
  [ -z "$more" ] && break
  while read -r line; do
    # shellcheck disable=SC2086
    "$PY" experiments/train.py -m "${COMMON[@]}" $line seed=0 experiment_name=optimizer_zoo_lr
  done <<< "$more"
done

echo "== 2. the chosen learning rates ($LR_DIR/chosen_lr.json; an optimizer still at an edge is marked in the table)"
chosen=$("$PY" -m robustopt.cli.zoo select "$LR_DIR")
echo "$chosen"

echo "== 3. final sweep, seeds $SEEDS"
while read -r line; do
  # shellcheck disable=SC2086
  "$PY" experiments/train.py -m "${COMMON[@]}" $line "seed=$SEEDS" experiment_name=optimizer_zoo_final
done <<< "$chosen"

SHARDS=${EVAL_SHARDS:-1}
evaluate() {  # evaluate <extra override>...: SHARDS processes share the final runs
  local pids=() i
  for ((i = 0; i < SHARDS; i++)); do
    "$PY" experiments/evaluate.py "run_dir=$FINAL_DIR" "evaluations=[$EVALS]" logger=none progress=false \
      "shard=$i/$SHARDS" num_threads=auto "$@" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
}
echo "== 4. evaluations: $EVALS (final epoch, then matched standard accuracy), $SHARDS process(es)"
evaluate
evaluate protocol=matched

echo "== 5. table and plots"
budget=${BUDGET:-"experiment=optimizer_zoo ${EXTRA:-(preset budget)}; lr grid x{1/3,1,3} on validation accuracy; seeds $SEEDS; AutoAttack (APGD-CE + APGD-T) on 100 test images, one eps per norm"}
"$PY" paper_figures/optimizer_zoo.py "$FINAL_DIR" --chosen-lr "$LR_DIR/chosen_lr.json" --budget "$budget"
echo "== done in $(( $(date +%s) - start )) s"
