"""What every run records in its ``meta.json`` about where and how it ran (git commit, package versions,
device, host, start time, command line)."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("robustopt", "torch", "torchvision", "numpy", "scipy", "hydra-core", "omegaconf", "wandb")


def git_commit(path: str | Path | None = None) -> dict:
    """The git commit of the code (and whether the work tree had uncommitted changes)."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if sha.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["torch"] = torch.__version__  # includes the build (+cpu, +cu130)
    return versions


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def device_info(device: torch.device) -> dict:
    info = {
        "device": str(device),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def rerun_command(meta: dict) -> str:
    """The command line that trained a run (``meta.json``'s ``command``) as a user would type it again
    (``python experiments/train.py ...``); a generic hint when it was not recorded."""
    command = str(meta.get("command") or "").strip()
    if not command:
        return "the training command of this run (experiments/train.py with its overrides)"
    first = command.split()[0]
    return f"python {command}" if first.endswith(".py") else command


def run_meta(device: torch.device, **seeds) -> dict:
    return {
        **seeds,
        "git": git_commit(),
        "versions": package_versions(),
        **device_info(device),
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(sys.argv),
    }
