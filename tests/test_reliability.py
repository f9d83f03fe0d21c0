"""Safe under real use (issue 21): shared folders, two commands at once, Ctrl-C, a busy cluster, unwritable
folders, a changed data set.  Each test fails on the behaviour before the issue."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from robustopt.io import atomic_torch_save, atomic_write_json, atomic_write_text


# -- files follow the umask --------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        written = [
            atomic_write_text(tmp_path / "a.txt", "x"),
            atomic_write_json(tmp_path / "b.json", {"a": 1}),
            atomic_torch_save(tmp_path / "c.pt", {"x": torch.zeros(1)}),
        ]
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE(plain.stat().st_mode), path
