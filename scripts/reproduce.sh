#!/usr/bin/env bash
# Reproduce Ma, Pan & Farahmand (TMLR 2023) end to end: train, evaluate, draw every figure, write report.md.
#
#   scripts/reproduce.sh quick          # the README demo: Fashion-MNIST, c2, SGD/Adam/RMSprop, 3 seeds, 20 epochs of
#                                       # 1,536 images, every evaluation at matched standard accuracy on the first test
#                                       # images, a short irrelevant-frequency sweep, the linear theory (quick), every
#                                       # figure and verdict (the README quotes its measured time)
#   scripts/reproduce.sh fashion-mnist  # the paper's full Fashion-MNIST recipe (200 epochs, 3 seeds, AutoAttack on 1000
#                                       # images, final epoch) as a ledger of units, each shipped into results/fashion_mnist
#                                       # when it finishes (BUDGET, JOBS, PRECISION, COMMIT tune it)
#   scripts/reproduce.sh paper          # every data set of the paper as one Hydra multirun (SLURM by default)
#
# Environment:
#   ROBUSTOPT_OUTPUT_DIR  results store (default: outputs); the report goes to $OUT/reproduce/<target>/report.md
#   LAUNCHER              Hydra launcher (conf/launcher/): quick defaults to joblib, fashion-mnist to joblib_gpu on a
#                         GPU (else joblib), paper to slurm
#   LOGGER                wandb (default: offline W&B runs next to each run; `wandb sync` later) or none
#   THEORY_OVERRIDES      extra overrides of the linear-theory run (e.g. "theory=quick" for a smoke test)
#   DRY_RUN=1             print the commands instead of running them
# Extra arguments are passed to every training command (e.g. device=cuda, +launcher options).
#
# Every step resumes: re-running the same target skips complete runs and finishes the others.  The figure
# scripts only read the store, so `python paper_figures/report.py ...` (printed at the end) redraws the report.
#
# Data sets (nothing is downloaded; see the README's table): Fashion-MNIST comes from Debian's
# dataset-fashion-mnist (scripts/setup.sh); for `paper` put under $ROBUSTOPT_DATA_DIR (default data/):
#   MNIST/raw/ (IDX files), cifar-10-batches-py/, cifar-100-python/ (python pickles),
#   svhn/{train,test}_32x32.mat, caltech101/101_ObjectCategories/<class>/*.jpg, imagenette2/{train,val}/<wnid>/*.JPEG
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${1:-}
[ $# -gt 0 ] && shift
PY=${PYTHON:-.venv/bin/python}
OUT=${ROBUSTOPT_OUTPUT_DIR:-outputs}
export ROBUSTOPT_OUTPUT_DIR=$OUT
LOGGER=${LOGGER:-wandb}
export PYTHONUNBUFFERED=1

run() {  # echo a command, then run it (or only echo it with DRY_RUN=1)
    printf '+'; printf ' %q' "$@"; printf '\n'
    if [ "${DRY_RUN:-0}" != 1 ]; then "$@"; fi
}

wait_all() {  # wait for every background job; fail if any failed
    local status=0
    for job in $(jobs -p); do wait "$job" || status=$?; done
    return $status
}

evaluations() {  # every evaluation of the paper
    echo "[clean,robust_accuracy,gaussian_noise,band_noise,fourier_heatmap,lipschitz]"
}

report() {  # report <name> <sweep> <irrelevant-freq sweep> <linear-theory run>
    local dest="$OUT/reproduce/$1"
    run $PY paper_figures/report.py --sweep "$2" --irrelevant-freq "$3" --linear-theory "$4" --out "$dest"
    echo
    echo "Report: $dest/report.md  (figures in $dest/figures/)"
    echo "Redraw: $PY paper_figures/report.py --sweep $2 --irrelevant-freq $3 --linear-theory $4 --out $dest"
}

case "$TARGET" in
quick)
    start=$(date +%s)
    echo "== [1/5] train c2 on Fashion-MNIST with SGD, Adam and RMSprop (3 seeds; each seed's optimizers start from the same"
    echo "         weights and see the same batches), 2 jobs at a time, every 1,536-image epoch tested and kept"
    run $PY experiments/train.py -m experiment=reproduce_quick optimizer=sgd,adam,rmsprop seed=0,1,2 \
        logger=$LOGGER progress=false launcher=${LAUNCHER:-joblib} "$@"
    t1=$(date +%s)
    echo "== [2/5] evaluate every run at matched standard accuracy (the first epoch whose validation accuracy reaches its seed's lowest final one),"
    echo "         two processes of one thread each"
    for shard in 0 1; do
        run $PY experiments/evaluate.py "run_dir=$OUT/multiruns/reproduce_quick" protocol=matched prune_snapshots=true \
            "evaluations=$(evaluations)" logger=$LOGGER progress=false num_threads=1 shard=$shard/2 &
    done
    wait_all
    t2=$(date +%s)
    echo "== [3/5] irrelevant frequencies: SGD on training data with half its high-frequency / low-energy DCT content removed"
    run $PY experiments/irrelevant_freq.py experiment=reproduce_quick experiment_name=reproduce_quick_irrelevant_freq \
        'data_filter={name:null,keep_fraction:1.0},{name:high_frequency,keep_fraction:0.5},{name:low_energy,keep_fraction:0.5}' \
        epochs=10 snapshot_epochs=null "evaluations=[]" logger=$LOGGER progress=false launcher=${LAUNCHER:-joblib} "$@"
    t3=$(date +%s)
    echo "== [4/5] the linear least-squares theory (quick instance)"
    run $PY experiments/linear_theory.py theory=quick logger=$LOGGER progress=false ${THEORY_OVERRIDES:-}
    t4=$(date +%s)
    echo "== [5/5] figures, tables, report.md and every verdict"
    report quick "$OUT/multiruns/reproduce_quick" "$OUT/multiruns/reproduce_quick_irrelevant_freq" "$OUT/runs/linear_theory_quick/default"
    t5=$(date +%s)
    echo "Times (s): train $((t1 - start)), evaluate $((t2 - t1)), irrelevant frequencies $((t3 - t2)), linear theory $((t4 - t3)), report $((t5 - t4)), total $((t5 - start))"
    ;;
fashion-mnist)
    # The paper's Fashion-MNIST recipe as a ledger of units (robustopt/cli/reproduce.py): each training run (200
    # epochs) and each evaluation of a finished run at its final epoch is one unit that finishes on one core between
    # interruptions (measured: a bf16 training run 75 min on an idle core, 2-9 min for the noise and PGD units; see the
    # README); a finished unit ships into results/fashion_mnist/runs/<run>/ (config, meta, per-epoch metrics,
    # summary with per-image outcomes, model.safetensors), a unit in progress ships nothing.  Re-running never redoes
    # a shipped unit.  BUDGET (default 150m): start no unit that would end later; JOBS (default: the cores) units at
    # once, one thread each; COMMIT=1 git-commits each shipped unit on its own.  On a CPU the runs train with bf16
    # autocast (PRECISION=fp32 to change it); on a GPU in fp32.
    if $PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        DEVICE=cuda; PRECISION=${PRECISION:-fp32}; JOBS=${JOBS:-9}
    else
        DEVICE=cpu; PRECISION=${PRECISION:-bf16}; JOBS=${JOBS:-$($PY -c "from robustopt.devices import available_cpus; print(available_cpus())")}
    fi
    echo "== the ledger (what results/fashion_mnist holds, what is left)"
    run $PY -m robustopt.cli.reproduce fashion_mnist status
    echo "== the next units: $JOBS at a time, one thread each, within ${BUDGET:-150m} ($PRECISION training on $DEVICE)"
    run $PY -m robustopt.cli.reproduce fashion_mnist run --budget "${BUDGET:-150m}" --jobs "$JOBS" --precision "$PRECISION" \
        --device "$DEVICE" --work "$OUT/units" ${COMMIT:+--commit}
    echo "== Figure 1, the tables, report.md and every verdict, from the shipped runs"
    run $PY paper_figures/report.py --sweep results/fashion_mnist/runs --linear-theory results/fashion_mnist/linear_theory \
        --out "$OUT/reproduce/fashion-mnist" --allow-partial
    ;;
paper)
    DATASETS=${DATASETS:-mnist,fashion_mnist,cifar10,cifar100,svhn,caltech101,imagenette}
    PRESETS=$(echo "$DATASETS" | sed -E 's/(^|,)/\1paper_/g')
    echo "== every data set of the paper ($PRESETS) x SGD/Adam/RMSprop x 3 seeds, one Hydra multirun (launcher=${LAUNCHER:-slurm})"
    # One sweep folder, one sub-folder per data set (the run names do not contain the preset).
    run $PY experiments/train.py -m "experiment=$PRESETS" optimizer=sgd,adam,rmsprop seed=0,1,2 \
        "evaluations=$(evaluations)" logger=$LOGGER launcher=${LAUNCHER:-slurm} \
        "hydra.sweep.dir=$OUT/multiruns/paper" 'hydra.sweep.subdir=${experiment_name}/${run_dirname:${hydra:overrides.task}}' "$@"
    run $PY experiments/irrelevant_freq.py "experiment=$PRESETS" logger=$LOGGER launcher=${LAUNCHER:-slurm} \
        "hydra.sweep.dir=$OUT/multiruns/paper_irrelevant_freq" \
        'hydra.sweep.subdir=${dataset.name}/${or_default:${data_filter.name},none}-keep${data_filter.keep_fraction}' "$@"
    run $PY experiments/linear_theory.py logger=$LOGGER "hydra.run.dir=$OUT/runs/linear_theory_paper" ${THEORY_OVERRIDES:-}
    report paper "$OUT/multiruns/paper" "$OUT/multiruns/paper_irrelevant_freq" "$OUT/runs/linear_theory_paper"
    ;;
*)
    echo "usage: scripts/reproduce.sh quick|fashion-mnist|paper [hydra overrides...]  (see the header of this script)" >&2
    exit 2
    ;;
esac
