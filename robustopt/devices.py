"""Device selection, the CPU threads a job really has, and :func:`torch_threads` (a block's own thread count)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch

from robustopt.errors import ConfigError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    if isinstance(spec, torch.device):
        return spec
    spec = str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise ConfigError(f"unknown device '{spec}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda was asked for but no CUDA GPU is visible; use device=auto or device=cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device '{spec}' is not supported; use auto, cpu, cuda or cuda:N")
    return device


def available_cpus() -> int:
    """CPU cores this process may use: its CPU affinity, capped by a cgroup (v2 ``cpu.max`` / v1 ``cfs_quota``)
    quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return float(text[0]) / float(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def busy_cpus() -> float:
    """Cores kept busy by other processes (the 1-minute load average, read before this process starts working)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def default_num_threads(jobs_at_once: int = 1) -> int:
    """The torch CPU threads for one job: the cores this process really has -- its affinity and cgroup quota, less
    the cores other processes keep busy (load average) -- shared among ``jobs_at_once`` jobs, at least 1.

    Small convolutions scale badly with threads that compete for a busy core: on a 2-core machine with one other busy
    process, 2 threads train the paper's c2 slower than 1 (``scripts/bench/cpu_threads.py``).
    """
    free = available_cpus() - int(round(busy_cpus()))
    return max(1, min(available_cpus(), free) // max(1, int(jobs_at_once)))


def resolve_num_threads(num_threads, jobs_at_once: int = 1) -> int | None:
    """``num_threads`` from a config: a positive int, ``auto`` (:func:`default_num_threads`), or None (torch's
    default)."""
    if num_threads is None:
        return None
    if isinstance(num_threads, str):
        if num_threads.strip().lower() == "auto":
            return default_num_threads(jobs_at_once)
        try:
            num_threads = int(num_threads)
        except ValueError:
            raise ConfigError(f"num_threads must be a positive integer, auto or null, got {num_threads!r}") from None
    if isinstance(num_threads, bool) or int(num_threads) < 1:
        raise ConfigError(f"num_threads must be a positive integer, auto or null, got {num_threads!r}")
    return int(num_threads)


@contextlib.contextmanager
def torch_threads(num_threads):
    """Use ``num_threads`` torch threads inside the block (an int, ``auto`` -- see
    :func:`robustopt.devices.default_num_threads` -- or None: leave as is), then restore the previous number, so
    that a reused worker process (joblib) never leaks one job's setting into the next."""
    previous = torch.get_num_threads()
    wanted = resolve_num_threads(num_threads)
    if wanted:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
