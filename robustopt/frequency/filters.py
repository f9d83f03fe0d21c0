"""Frequency filters for training data (the irrelevant-frequency experiment).

Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703), Section 3.1 / Figure 2: a model trained on images
with most of their high-frequency or low-energy DCT content removed keeps its test accuracy, so those
frequencies are irrelevant to the task.  Both filters take a float batch ``(B, C, H, W)`` (in [0, 1])
on any device and work on the whole batch at once (no loop over images).

The training pipeline looks a filter up by name: ``FILTERS.get(name)(x, keep_fraction=...)``.
"""

from __future__ import annotations

import torch

from robustopt.errors import ConfigError
from robustopt.frequency.bases import dct2, idct2
from robustopt.frequency.masks import low_pass_mask
from robustopt.registry import Registry

FILTERS: Registry = Registry("data filter")

_MASK_CACHE: dict[tuple, torch.Tensor] = {}


def _check(x: torch.Tensor, keep_fraction: float) -> float:
    keep = float(keep_fraction)
    if not 0.0 < keep <= 1.0:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    if x.dim() < 2 or not x.is_floating_point():
        raise ConfigError(f"frequency filters need a float image batch (..., H, W), got {x.dtype} {tuple(x.shape)}")
    return keep


def _cached_low_pass(h: int, w: int, keep: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (h, w, keep, str(device), dtype)
    mask = _MASK_CACHE.get(key)
    if mask is None:
        mask = low_pass_mask(h, w, keep_fraction=keep, basis="dct").to(device=device, dtype=dtype)
        _MASK_CACHE[key] = mask
    return mask


@FILTERS.register("high_frequency")
def remove_high_frequency(x: torch.Tensor, keep_fraction: float, *, clamp: bool = False) -> torch.Tensor:
    """Keep only the lowest ``keep_fraction`` of the DCT coefficients (one radial low-pass mask).

    The mask holds whole radius shells (radius from the DC corner), the number of coefficients being
    the nearest the shells allow to ``keep_fraction * H * W``; it is the same for every image and
    channel.  ``keep_fraction=1`` returns ``x`` unchanged; ``clamp`` clips the result to [0, 1].
    """
    keep = _check(x, keep_fraction)
    if keep >= 1.0:
        return x
    h, w = x.shape[-2:]
    out = idct2(dct2(x) * _cached_low_pass(h, w, keep, x.device, x.dtype))
    return out.clamp_(0, 1) if clamp else out


@FILTERS.register("low_energy")
def remove_low_energy(x: torch.Tensor, keep_fraction: float, *, clamp: bool = False) -> torch.Tensor:
    """Per image, keep the ``keep_fraction`` of DCT coefficients with the most energy and zero the rest.

    A coefficient's energy is its absolute value averaged over the channels, so one mask per image is
    shared by all its channels.  The ``k = round(keep_fraction * H * W)`` (at least one) most energetic
    coefficients are kept (coefficients tied with the k-th are kept too).  ``keep_fraction=1`` returns
    ``x`` unchanged; ``clamp`` clips the result to [0, 1].
    """
    keep = _check(x, keep_fraction)
    if keep >= 1.0:
        return x
    h, w = x.shape[-2:]
    coef = dct2(x)
    # (..., C, H, W): energy averaged over the channels; (H, W): one single-channel image
    if x.dim() >= 3:
        energy = coef.abs() if x.shape[-3] == 1 else coef.abs().mean(dim=-3, keepdim=True)
    else:
        energy = coef.abs()
    flat = energy.flatten(-2)
    k = max(1, int(round(keep * h * w)))
    threshold = torch.topk(flat, k, dim=-1, sorted=False).values.amin(dim=-1, keepdim=True)
    mask = (flat >= threshold).view_as(energy)
    out = idct2(coef.mul_(mask))
    return out.clamp_(0, 1) if clamp else out


def apply_filter(x: torch.Tensor, name: str | None, keep_fraction: float = 1.0) -> torch.Tensor:
    """Apply the registered filter ``name`` (None: no filter) with ``keep_fraction``."""
    if name is None:
        return x
    return FILTERS.get(name)(x, keep_fraction=keep_fraction)
