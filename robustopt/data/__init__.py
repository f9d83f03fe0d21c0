"""Data sets as tensors: load a whole split once, serve seeded batches from memory.

Public API::

    x, y = load_dataset("fashion_mnist", root="data", split="train")   # x float (N, C, H, W) in [0, 1]
    batches = TensorBatches(x, y, batch_size=128, data_seed=0)
"""

from __future__ import annotations

from pathlib import Path

from robustopt.data import sets  # noqa: F401  (registers the data sets)
from robustopt.data.batches import TensorBatches
from robustopt.data.cache import load_configured_split, load_split_uint8
from robustopt.data.registry import DATASETS, DatasetSpec, canonical_dataset_name, get_spec, register_dataset
from robustopt.data.validation import split_validation


def load_dataset(name: str, root: str | Path = "data", split: str = "train", *, download: bool = False):
    """The whole ``split`` of data set ``name`` as ``(x, y)``: x float32 (N, C, H, W) in [0, 1], y int64.

    Large sets are better served with :func:`load_split_uint8` (4x less memory) and converted
    per batch by :class:`TensorBatches`.
    """
    x, y = load_split_uint8(name, root, split, download=download)
    return x.float().div_(255), y


__all__ = [
    "DATASETS",
    "DatasetSpec",
    "TensorBatches",
    "canonical_dataset_name",
    "get_spec",
    "load_configured_split",
    "load_dataset",
    "load_split_uint8",
    "register_dataset",
    "split_validation",
]
