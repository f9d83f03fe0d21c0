"""The data-set registry: each entry says how to read one data set's real on-disk format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from robustopt.registry import Registry

# A reader turns (root, split, download) into (images uint8 (N, C, H, W), labels int64 (N,)).
# It is called once per split; the result is cached next to the raw data.
Reader = Callable[[Path, str, bool], "tuple[torch.Tensor, torch.Tensor]"]


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the toolkit needs to know about a data set."""

    name: str
    in_channels: int
    num_classes: int
    image_size: int
    reader: Reader
    splits: tuple[str, ...] = ("train", "test")
    mean: tuple[float, ...] = field(default=())  # per-channel, for the model's optional Normalize layer
    std: tuple[float, ...] = field(default=())
    # Where the files go, shown in the "data set not found" error.
    layout_hint: str = ""
    cacheable: bool = True
    # Side of the square training images that ``random_resized_crop`` crops from: ``reader(..., size=N)``
    # must return the images at N x N (the image-folder sets: the centre N x N of the image resized to a
    # shorter side of N).  None: the data set does not offer random_resized_crop.
    crop_source_size: Optional[int] = None


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    """Register a data set under ``spec.name`` (docs/plugins.md has an example)."""
    return DATASETS.register(spec.name, spec, overwrite=overwrite)


def get_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


#: Other spellings of the built-in data sets' names (in per-data-set tables: eps grids, noise variances).
ALIASES = {
    "fashionmnist": "fashion_mnist",
    "fmnist": "fashion_mnist",
    "cifar_10": "cifar10",
    "cifar_100": "cifar100",
    "caltech_101": "caltech101",
}


def canonical_dataset_name(name: str) -> str:
    """The registry spelling of a data-set name: lower case, ``-`` as ``_``, :data:`ALIASES` resolved, and
    every ``imagenette*`` variant (``imagenette160``, ...) as ``imagenette``.  The key of every per-data-set
    table (the paper's eps grids, the noise variances)."""
    key = str(name or "").strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    return "imagenette" if key.startswith("imagenette") else key
