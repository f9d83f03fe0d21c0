#!/usr/bin/env bash
# Set up robustopt on a fresh machine: a virtual environment in .venv (created if missing) with the
# package and its dev/cluster extras, and the real Fashion-MNIST from Debian's package where apt exists.
# Safe to re-run: it reinstalls only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.robustopt-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || ! .venv/bin/python -c "import robustopt, torch, torchvision, hydra, wandb" 2>/dev/null; then
    echo "[setup] installing robustopt and its dependencies into .venv (torch is large: a few minutes the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev,cluster]"
    touch "$stamp"
fi

# Fashion-MNIST offline: Debian's dataset-fashion-mnist puts the IDX .gz files in /usr/share/datasets/fashion-mnist/.
FMNIST=${ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$FMNIST/train-images-idx3-ubyte.gz" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; }; then
        echo "[setup] installing Debian's dataset-fashion-mnist"
        $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null \
            || echo "[setup] warning: could not install dataset-fashion-mnist; put the Fashion-MNIST files in data/FashionMNIST/raw/"
    else
        echo "[setup] note: no apt-get (or no root): put the Fashion-MNIST IDX files in data/FashionMNIST/raw/ yourself"
    fi
fi
echo "[setup] ready: $(.venv/bin/python -c 'import torch, robustopt; print("robustopt", robustopt.__version__, "torch", torch.__version__)')"
