"""Atomic writes: a failure part-way leaves the old file intact and no temporary file behind."""

from __future__ import annotations

import os

import pytest
import torch

from robustopt.checkpoint import load_checkpoint
from robustopt.errors import CheckpointError
from robustopt.io import atomic_torch_save, atomic_write_json, read_json


def test_failed_json_write_keeps_old_file(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_json(path, {"a": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": Boom()})
    assert read_json(path) == {"a": 1}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_interrupted_rename_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_torch_save(path, {"model": {"w": torch.ones(2)}})

    def fail(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        atomic_torch_save(path, {"model": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.pt"]


def test_nan_is_written_as_null(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"v": float("nan"), "t": torch.tensor([1.0, 2.0])})
    assert read_json(tmp_path / "x.json") == {"t": [1.0, 2.0], "v": None}


class Custom:
    """Not plain data: weights_only loading must refuse it."""


def test_checkpoint_with_pickled_objects_is_refused(tmp_path):
    torch.save({"model": {}, "obj": Custom()}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="corrupted or not a robustopt checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
