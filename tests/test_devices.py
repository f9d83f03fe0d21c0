"""The CPU threads a job really has (robustopt.devices)."""

from __future__ import annotations

import pytest

from robustopt import devices
from robustopt.errors import ConfigError


@pytest.mark.parametrize(
    "cpus,busy,jobs,expected",
    [
        (2, 0.0, 1, 2),
        (2, 1.1, 1, 1),
        (2, 7.0, 1, 1),
        (16, 2.0, 1, 14),
        (16, 0.0, 4, 4),
        (16, 0.2, 3, 5),
        (1, 0.0, 8, 1),
    ],
)
def test_default_threads_follow_free_cores_and_jobs(monkeypatch, cpus, busy, jobs, expected):
    monkeypatch.setattr(devices, "available_cpus", lambda: cpus)
    monkeypatch.setattr(devices, "busy_cpus", lambda: busy)
    assert devices.default_num_threads(jobs) == expected


def test_cgroup_quota_caps_the_affinity(monkeypatch, tmp_path):
    monkeypatch.setattr(devices.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(devices, "_cgroup_quota", lambda: 2.5)
    assert devices.available_cpus() == 2
    monkeypatch.setattr(devices, "_cgroup_quota", lambda: None)
    assert devices.available_cpus() == 8


def test_cgroup_v2_cpu_max_is_read(monkeypatch, tmp_path):
    real_path = devices.Path
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(devices, "Path", lambda p: real_path(str(p).replace("/sys/fs/cgroup", str(tmp_path))))
    assert devices._cgroup_quota() == pytest.approx(1.5)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert devices._cgroup_quota() is None


def test_num_threads_values():
    assert devices.resolve_num_threads(None) is None
    assert devices.resolve_num_threads(3) == 3 and devices.resolve_num_threads("4") == 4
    assert devices.resolve_num_threads("auto") >= 1
    for bad in (0, -1, "many", True):
        with pytest.raises(ConfigError, match="num_threads"):
            devices.resolve_num_threads(bad)
