"""A tiny synthetic data set for tests and smoke runs: needs no files and is the same on every machine.

Each of the 4 classes has a smooth prototype (4x4 uniform noise, bilinearly upsampled to 16x16).  An image is its
class prototype plus smooth per-image variation (8x8 Gaussian noise upsampled, std ``SMOOTH_NOISE``) plus a little
white noise (std ``PIXEL_NOISE``), clipped to [0, 1] and stored as uint8.  Like natural images, most of the energy
sits in low spatial frequencies and the high frequencies carry little energy -- the setting in which Ma, Pan &
Farahmand (TMLR 2023) compare SGD with adaptive methods.  Everything comes from private ``torch.Generator``s seeded
with :data:`SEED` (the prototypes) and ``SEED + 1`` / ``SEED + 2`` (the train / test images); the global RNG is
never touched.  A small CNN trained for a few epochs with SGD classifies the test split almost perfectly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from robustopt.data.registry import DatasetSpec, register_dataset
from robustopt.data.sets._common import check_split

SEED = 20230813
NUM_CLASSES = 4
IMAGE_SIZE = 16
SIZES = {"train": 1024, "test": 256}
SMOOTH_NOISE = 0.15
PIXEL_NOISE = 0.03


def _upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=True)


def prototypes(seed: int = SEED) -> torch.Tensor:
    """The class prototypes, float (NUM_CLASSES, 1, IMAGE_SIZE, IMAGE_SIZE) in [0.1, 0.9]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand((NUM_CLASSES, 1, 4, 4), generator=gen)
    return 0.1 + 0.8 * _upsample(coarse, IMAGE_SIZE)


def make_synthetic(split: str, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate one split: (images uint8 (N, 1, 16, 16), labels int64 (N,)), balanced over the 4 classes."""
    check_split("synthetic", split)
    n = SIZES[split]
    protos = prototypes(seed)
    gen = torch.Generator().manual_seed(seed + (1 if split == "train" else 2))
    labels = (torch.arange(n) % NUM_CLASSES)[torch.randperm(n, generator=gen)]
    smooth = _upsample(torch.randn((n, 1, 8, 8), generator=gen), IMAGE_SIZE) * SMOOTH_NOISE
    white = torch.randn((n, 1, IMAGE_SIZE, IMAGE_SIZE), generator=gen) * PIXEL_NOISE
    images = (protos[labels] + smooth + white).clamp(0.0, 1.0)
    return (images * 255.0).round().to(torch.uint8).contiguous(), labels.to(torch.int64).contiguous()


def read_synthetic(root: Path | None, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Reader for the registry: ignores ``root`` and ``download``."""
    return make_synthetic(split)


SYNTHETIC = register_dataset(
    DatasetSpec(
        name="synthetic",
        in_channels=1,
        num_classes=NUM_CLASSES,
        image_size=IMAGE_SIZE,
        reader=read_synthetic,
        mean=(0.5,),
        std=(0.25,),
        layout_hint="nothing: the synthetic data set is generated in memory",
        cacheable=False,
    )
)
