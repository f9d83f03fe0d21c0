"""Batched data augmentation as tensor ops on the device (no per-image Python work)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad each image by ``padding`` and take a random crop of the original size.

    Offsets are drawn on the CPU from ``generator`` (so they do not depend on the device) and the
    crops are gathered in one indexing op.
    """
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image horizontally with probability ``p``."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


# Sampling rule of torchvision's RandomResizedCrop (the ImageNet recipe: Szegedy et al., "Going deeper with
# convolutions", CVPR 2015), used by Ma, Pan & Farahmand (TMLR 2023) for Caltech-101 and Imagenette.
RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)
RRC_TRIES = 10


def random_resized_boxes(
    n: int,
    height: int,
    width: int,
    generator: torch.Generator,
    scale: tuple[float, float] = RRC_SCALE,
    ratio: tuple[float, float] = RRC_RATIO,
    tries: int = RRC_TRIES,
) -> torch.Tensor:
    """``n`` crop boxes ``(top, left, h, w)`` (int64, CPU) of a ``height`` x ``width`` image, drawn at once.

    torchvision's ``RandomResizedCrop.get_params`` rule, vectorised: each of ``tries`` attempts draws an
    area fraction uniform in ``scale`` and an aspect ratio log-uniform in ``ratio``, rounds
    ``w = sqrt(area * ratio)``, ``h = sqrt(area / ratio)`` and accepts the first box that fits; its
    position is uniform over the places it fits.  When no attempt fits, the centre crop of the largest
    box with a ratio in ``ratio`` (the whole image when its own ratio is in range).  The generator
    draws a fixed amount per call (``n * (2 * tries + 2)`` float64 uniforms), whatever is accepted.
    """
    area = float(height * width)
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    u = torch.rand(n, tries, 2, generator=generator, dtype=torch.float64)
    target = area * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    aspect = torch.exp(lo + (hi - lo) * u[..., 1])
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.to(torch.int8).argmax(1, keepdim=True)  # the first attempt that fits (0 when none does)
    found = fits.any(1)
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)
    pos = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    top = torch.floor(pos[:, 0] * (height - h + 1))
    left = torch.floor(pos[:, 1] * (width - w + 1))
    # fallback: torchvision's central crop
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        fw, fh = int(round(height * max(ratio))), height
    else:
        fw, fh = width, height
    h = torch.where(found, h, float(fh))
    w = torch.where(found, w, float(fw))
    top = torch.where(found, top, float((height - fh) // 2))
    left = torch.where(found, left, float((width - fw) // 2))
    return torch.stack([top, left, h, w], 1).long()


def _resize_weights(start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int, dtype) -> torch.Tensor:
    """Rows of the antialiased bilinear resampling from ``[start, start + length)`` to ``out_size`` samples.

    ``(n, out_size, in_size)`` weights of PIL's / torch's antialiased bilinear filter (``antialias=True``):
    output ``o`` is centred at ``c = (o + 0.5) * length / out_size`` (box coordinates) and weighs input
    ``k`` by the triangle ``max(0, 1 - |k + 0.5 - c| / s)``, ``s = max(length / out_size, 1)``, over the
    pixels inside the box, normalised to sum 1.  (For ``s = 1`` this is plain bilinear interpolation
    with edge clamping.)
    """
    device = start.device
    scale = length.to(torch.float64) / out_size
    support = scale.clamp(min=1.0)
    center = scale[:, None] * (torch.arange(out_size, device=device, dtype=torch.float64) + 0.5)
    k = torch.arange(in_size, device=device)[None, :] - start[:, None]  # input index relative to the box
    inside = (k >= 0) & (k < length[:, None])
    dist = (k[:, None, :].to(torch.float64) + 0.5 - center[:, :, None]) / support[:, None, None]
    weights = (1.0 - dist.abs()).clamp_(min=0.0) * inside[:, None, :]
    return (weights / weights.sum(-1, keepdim=True)).to(dtype)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Crop box ``boxes[i] = (top, left, h, w)`` of image ``x[i]`` and resize it to ``size``, for a whole batch.

    The result equals ``torchvision.transforms.v2.functional.resized_crop(x[i], top, left, h, w, size,
    antialias=True)`` (bilinear; within float rounding): the resampling is separable, so each image is
    two matrix products with its own weight matrices (:func:`_resize_weights`) -- one batched ``matmul``
    per axis, no per-image Python work.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else size
    n, c, height, width = x.shape
    boxes = boxes.to(x.device)
    rows = _resize_weights(boxes[:, 0], boxes[:, 2], height, out_h, x.dtype)  # (n, out_h, H)
    cols = _resize_weights(boxes[:, 1], boxes[:, 3], width, out_w, x.dtype)  # (n, out_w, W)
    return rows[:, None] @ x @ cols[:, None].transpose(-1, -2)


def random_resized_crop(
    x: torch.Tensor,
    size: int | tuple[int, int],
    generator: torch.Generator,
    scale: tuple[float, float] = RRC_SCALE,
    ratio: tuple[float, float] = RRC_RATIO,
) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop(size, scale, ratio)`` (bilinear, antialiased) applied to every image.

    Boxes from :func:`random_resized_boxes` (drawn on the CPU from ``generator``, so they do not depend
    on the device), resampled by :func:`resized_crop` on ``x``'s device.
    """
    boxes = random_resized_boxes(x.shape[0], x.shape[-2], x.shape[-1], generator, scale, ratio)
    return resized_crop(x, boxes, size)
