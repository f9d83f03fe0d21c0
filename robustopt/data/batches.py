"""Serve seeded mini-batches from tensors that live on the device."""

from __future__ import annotations

from typing import Callable, Iterator, Optional

import torch

from robustopt.data.augment import random_crop, random_hflip, random_resized_crop
from robustopt.errors import ConfigError

# Splits larger than this are kept as uint8 and converted per batch.
FLOAT_CACHE_LIMIT_BYTES = 1 << 30


class TensorBatches:
    """Mini-batches of a whole split held in memory on ``device``.

    The order of epoch ``e`` is a permutation drawn from a generator seeded with
    ``(data_seed, e)``, and so are the augmentation draws (with ``epoch_size``, an epoch is that many images
    of a stream of such passes, so that training can be evaluated and kept more often than once per pass): the batches
    depend only on ``data_seed`` and the epoch, which makes runs with different optimizers see the same data in the
    same order and makes resuming at an epoch boundary exact.  Augmentation (random crop with zero padding, or
    torchvision's RandomResizedCrop to ``random_resized_crop`` pixels; then horizontal flip) and the optional
    ``batch_transform`` (e.g. a frequency filter) run as batched tensor ops on the device.  Each option draws from the
    epoch's generator only when it is on, in the order crop, random resized crop, flip, so turning an option off
    leaves the draws of the others as they were.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        *,
        data_seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        crop_padding: int = 0,
        hflip: bool = False,
        random_resized_crop: Optional[int] = None,
        batch_transform: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        device: torch.device | str = "cpu",
        epoch_size: Optional[int] = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if epoch_size is not None and int(epoch_size) < 1:
            raise ConfigError(
                f"epoch_size must be a positive number of images or null (one pass over the data), got {epoch_size}"
            )
        if random_resized_crop is not None:
            if int(random_resized_crop) < 1 or int(random_resized_crop) > min(x.shape[-2:]):
                raise ConfigError(
                    f"random_resized_crop={random_resized_crop} must be a side between 1 and the stored images' "
                    f"{min(x.shape[-2:])} pixels"
                )
            if crop_padding:
                raise ConfigError("crop_padding and random_resized_crop exclude each other; set one of them")
        device = torch.device(device)
        if x.dtype == torch.uint8 and x.numel() * 4 <= FLOAT_CACHE_LIMIT_BYTES:
            x = x.to(device).float().div_(255)  # small sets: convert once
        self.x = x.to(device)
        self.y = y.to(device)
        self.batch_size = int(batch_size)
        self.data_seed = int(data_seed)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.crop_padding = int(crop_padding)
        self.hflip = bool(hflip)
        self.random_resized_crop = None if random_resized_crop is None else int(random_resized_crop)
        self.batch_transform = batch_transform
        self.device = device
        n = int(self.x.shape[0])
        self.epoch_size = None if epoch_size is None or int(epoch_size) == n else int(epoch_size)

    def __len__(self) -> int:
        n = self.x.shape[0] if self.epoch_size is None else self.epoch_size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return int(self.x.shape[0])

    def generator(self, epoch: int) -> torch.Generator:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(self.data_seed * 1_000_003 + int(epoch))
        return gen

    def _pass_order(self, p: int, gen: Optional[torch.Generator] = None) -> torch.Tensor:
        n = self.num_samples
        return torch.randperm(n, generator=gen or self.generator(p)) if self.shuffle else torch.arange(n)

    def _stream(self, epoch: int) -> tuple[torch.Tensor, torch.Generator]:
        """The sample indices of ``epoch`` and the generator of its augmentation draws.

        Without ``epoch_size`` an epoch is one pass: its permutation and its augmentation draws come from one
        generator seeded by ``(data_seed, epoch)``.  With ``epoch_size`` the epochs cut a stream of passes (pass
        ``p`` permuted by the generator of ``(data_seed, p)``) into pieces of ``epoch_size`` images, and the
        augmentation draws of each piece come from a separate generator of ``(data_seed, epoch)``.
        """
        if self.epoch_size is None:
            gen = self.generator(epoch)
            return self._pass_order(epoch, gen), gen
        n, size = self.num_samples, self.epoch_size
        parts, pos, end = [], epoch * size, (epoch + 1) * size
        while pos < end:
            p, off = divmod(pos, n)
            take = min(n - off, end - pos)
            parts.append(self._pass_order(p)[off : off + take])
            pos += take
        gen = torch.Generator(device="cpu")
        gen.manual_seed(self.data_seed * 1_000_003 + int(epoch) + (1 << 40))
        return torch.cat(parts), gen

    def order(self, epoch: int) -> torch.Tensor:
        """The sample indices of ``epoch`` in the order they are served."""
        return self._stream(epoch)[0]

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches of ``epoch``: x float in [0, 1] on the device."""
        order, gen = self._stream(epoch)
        order = order.to(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            xb = self.x.index_select(0, idx)
            yb = self.y.index_select(0, idx)
            if xb.dtype == torch.uint8:
                xb = xb.float().div_(255)
            if self.crop_padding:
                xb = random_crop(xb, self.crop_padding, gen)
            if self.random_resized_crop is not None:
                xb = random_resized_crop(xb, self.random_resized_crop, gen)
            if self.hflip:
                xb = random_hflip(xb, gen)
            if self.batch_transform is not None:
                xb = self.batch_transform(xb)
            yield xb, yb
