"""Shared test fixtures: offline W&B, Hydra config composition, subprocess entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HYDRA_FULL_ERROR", "0")
FASHION_MNIST_SYSTEM_DIR = Path(
    os.environ.get("ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR", "/usr/share/datasets/fashion-mnist")
)


def compose(config_name: str = "train", overrides: list[str] | None = None) -> dict:
    """Compose a config from conf/ with Hydra's compose API and resolve it to plain dicts."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from robustopt.cli import CONF_DIR, to_plain

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name=config_name, overrides=overrides or [])
    return to_plain(cfg)


def clean_env(**extra: str) -> dict:
    """This process's environment for a child process, without W&B's service address: a test that used W&B
    in-process leaves ``WANDB_SERVICE`` set, and children would then share (and collide in) that service."""
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.update(extra)
    return env


def run_entry(script: str, args: list[str], *, env: dict | None = None, cwd: Path | None = None, timeout: int = 600):
    """Run ``experiments/<script>`` in a subprocess, as a user would."""
    full_env = clean_env(PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [sys.executable, str(REPO / "experiments" / script), *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_killed_training(kill_at_step: int, args: list[str], *, timeout: int = 600):
    """Run ``experiments/train.py`` in a subprocess that SIGKILLs itself after ``kill_at_step`` optimizer steps
    (``tests/kill_at_step.py``: an ``on_step`` callback installed around the real entry point)."""
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_at_step.py"), str(int(kill_at_step)), *args],
        cwd=REPO,
        env=clean_env(PYTHONUNBUFFERED="1"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for modules of tiny tensors: on a busy 2-core machine two spinning threads make
    small ops tens of times slower.  The previous setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def out_dir(tmp_path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture(scope="session")
def fashion_mnist_root(tmp_path_factory) -> Path:
    """A data root with the real Fashion-MNIST (unpacked from the Debian package)."""
    if not (FASHION_MNIST_SYSTEM_DIR / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(
            f"real Fashion-MNIST not installed at {FASHION_MNIST_SYSTEM_DIR} (apt-get install dataset-fashion-mnist)"
        )
    return tmp_path_factory.mktemp("data")
