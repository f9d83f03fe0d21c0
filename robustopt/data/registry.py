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


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.register(spec.name, spec)


def get_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)
