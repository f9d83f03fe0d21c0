"""Radial frequency masks: equal-count bands, bands from explicit radii, low-pass and high-pass.

A mask is a boolean ``(H, W)`` tensor in the layout of :func:`robustopt.frequency.bases.to_frequency`
for its basis.  Masks are unions of whole *radius shells* (all frequencies with the same radius are
in or out together), so every FFT mask is Hermitian-symmetric (``f`` and ``-f`` have the same radius)
and band-limited noise built with it stays real.

Band ``k`` of a list of edges ``e_0 < e_1 < ...`` holds the radii ``e_{k-1} < r <= e_k`` (``closed="upper"``,
robustopt's convention) or ``e_{k-1} <= r < e_k`` (``closed="lower"``, the convention of the code of Ma, Pan &
Farahmand, whose ``mask_radial_multiple_radius`` puts a coefficient in the first band ``k`` with ``r < r_k``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import torch

from robustopt.errors import ConfigError
from robustopt.frequency.bases import check_basis, squared_radius
from robustopt.paper import DCT_RADII

# The band radii ``r_list`` of the code of Ma, Pan & Farahmand (TMLR 2023; freq-robust eval_AA_cluster.py), per
# image side: 10 DCT bands, band k holding the radii r_list[k-1] <= r < r_list[k] (:func:`paper_bands`); the
# numbers live in robustopt.paper.
PAPER_DCT_RADII: dict[int, tuple[float, ...]] = DCT_RADII
# The 32x32 radii (CIFAR-10/100, SVHN); ``bands_from_edges(32, 32, PAPER_DCT32_EDGES, closed="lower")`` or
# ``paper_bands(32)`` gives the authors' bands exactly.
PAPER_DCT32_EDGES = PAPER_DCT_RADII[32]
CLOSED = ("upper", "lower")


@dataclass(frozen=True)
class Bands:
    """A partition of the frequencies into radial bands, lowest first.

    ``masks`` is bool ``(n_bands, H, W)``.  With ``closed="upper"`` every radius of band ``k`` satisfies
    ``r_low[k] < r <= r_high[k]`` (``r_low[0] = -1``); with ``closed="lower"`` (the authors' convention)
    ``r_low[k] <= r < r_high[k]`` (``r_low[0] = 0``), except that the last band also holds its ``r_high``,
    the largest radius of the spectrum.
    """

    masks: torch.Tensor
    r_low: tuple[float, ...]
    r_high: tuple[float, ...]
    basis: str
    closed: str = "upper"

    @property
    def counts(self) -> list[int]:
        """Number of coefficients per band (per channel)."""
        return [int(c) for c in self.masks.flatten(1).sum(1)]

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.masks[k]


def _shells(height: int, width: int, basis: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Squared-radius grid, the distinct squared radii (ascending) and their cumulative counts."""
    r2 = squared_radius(height, width, basis)
    values, counts = torch.unique(r2, sorted=True, return_counts=True)
    return r2, values, counts.cumsum(0)


def _masks_from_upper_r2(r2: torch.Tensor, upper: Sequence[float]) -> torch.Tensor:
    """Masks for bands (upper[k-1], upper[k]] of squared radii, the last band open-ended."""
    masks, low = [], -1.0
    for hi in list(upper) + [float("inf")]:
        masks.append((r2 > low) & (r2 <= hi))
        low = hi
    return torch.stack(masks)


@lru_cache(maxsize=64)
def _band_masks_cached(height: int, width: int, n_bands: int, basis: str) -> Bands:
    r2, values, cum = _shells(height, width, basis)
    n_shells, total = len(values), int(cum[-1])
    if not 1 <= n_bands <= n_shells:
        raise ConfigError(
            f"cannot split a {height}x{width} {basis} spectrum ({n_shells} radius shells) into {n_bands} bands; "
            f"use between 1 and {n_shells} bands"
        )
    # Last shell of band k (k < n-1): the shell whose cumulative count is nearest to (k+1) * total / n,
    # kept strictly increasing and leaving at least one shell for every later band.
    ends: list[int] = []
    for k in range(n_bands - 1):
        target = (k + 1) * total / n_bands
        idx = int(torch.argmin((cum.double() - target).abs()))
        lo = ends[-1] + 1 if ends else 0
        hi = n_shells - (n_bands - k)  # room for the remaining bands
        ends.append(min(max(idx, lo), hi))
    ends.append(n_shells - 1)
    upper_r2 = [float(values[e]) for e in ends]
    masks = _masks_from_upper_r2(r2, upper_r2[:-1])
    r_high = tuple(v**0.5 for v in upper_r2)
    r_low = (-1.0,) + r_high[:-1]
    return Bands(masks=masks, r_low=r_low, r_high=r_high, basis=basis)


def band_masks(height: int, width: int, n_bands: int = 10, basis: str = "dct") -> Bands:
    """Split the frequencies into ``n_bands`` radial bands of (as nearly as whole shells allow) equal size.

    Each boundary between bands is placed after the radius shell whose cumulative coefficient count
    is closest to ``k * H * W / n_bands``; bands are ordered by radius, lowest first.  For the DCT of
    32x32 images this gives bands of 100-106 coefficients with upper radii close to, but not the same
    as, the authors' :data:`PAPER_DCT32_EDGES` (28 of 1024 coefficients fall in another band); use
    :func:`paper_bands` for theirs.
    """
    bands = _band_masks_cached(int(height), int(width), int(n_bands), check_basis(basis))
    return Bands(bands.masks.clone(), bands.r_low, bands.r_high, bands.basis, bands.closed)


def bands_from_edges(
    height: int, width: int, edges: Sequence[float], basis: str = "dct", *, closed: str = "upper"
) -> Bands:
    """Bands from explicit radii: ``edges`` (ascending) separate ``len(edges) + 1`` bands.

    ``closed="upper"``: ``r <= edges[0]``, ``edges[0] < r <= edges[1]``, ..., ``r > edges[-1]``.
    ``closed="lower"`` (the code of Ma, Pan & Farahmand, ``mask_radial_multiple_radius``: a coefficient
    goes to the first band ``k`` with ``r < edges[k]``): ``r < edges[0]``, ``edges[0] <= r < edges[1]``,
    ..., ``r >= edges[-1]``.  The two differ only for radii equal to an edge.  Radii are compared as
    ``r < e`` in float64, as the authors' numpy code does.
    """
    check_basis(basis)
    if closed not in CLOSED:
        raise ConfigError(f"closed must be one of {', '.join(CLOSED)}, got '{closed}'")
    edges = [float(e) for e in edges]
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ConfigError(f"band edges must be strictly increasing radii, got {edges}")
    r2 = squared_radius(int(height), int(width), basis)
    if closed == "upper":
        masks = _masks_from_upper_r2(r2, [e * e for e in edges])
    else:
        r = r2.double().sqrt()
        below = [r < e for e in edges] + [torch.ones_like(r, dtype=torch.bool)]
        masks = torch.stack([below[0]] + [b & ~a for a, b in zip(below, below[1:])])
    empty = [k for k in range(len(masks)) if not bool(masks[k].any())]
    if empty:
        raise ConfigError(f"band edges {edges} leave band(s) {empty} of a {height}x{width} spectrum empty; widen them")
    r_max = float(r2.max()) ** 0.5
    r_high = tuple(edges) + (r_max,)
    r_low = ((-1.0,) if closed == "upper" else (0.0,)) + tuple(edges)
    return Bands(masks=masks, r_low=r_low, r_high=r_high, basis=basis, closed=closed)


def paper_bands(height: int, width: int | None = None, basis: str = "dct") -> Bands:
    """The 10 DCT bands of Ma, Pan & Farahmand (TMLR 2023) for ``height`` x ``width`` images, exactly.

    Their radii :data:`PAPER_DCT_RADII` (28, 32 and 224 px: MNIST / Fashion-MNIST, CIFAR / SVHN, Caltech-101 /
    Imagenette) with their ``r < r_k`` convention (``closed="lower"``).  Raises ConfigError for other sizes
    and for the FFT basis, which the authors did not use.
    """
    width = height if width is None else width
    if check_basis(basis) != "dct":
        raise ConfigError(
            "the authors' band radii are for the DCT basis only; use basis 'dct' or equal-size bands (band_masks)"
        )
    if int(height) != int(width) or int(height) not in PAPER_DCT_RADII:
        sizes = ", ".join(f"{s}x{s}" for s in PAPER_DCT_RADII)
        raise ConfigError(
            f"the authors' band radii exist for {sizes} images only, not {height}x{width}; "
            f"use equal-size bands (n_bands) or explicit edges"
        )
    return bands_from_edges(height, width, PAPER_DCT_RADII[int(height)], "dct", closed="lower")


def radial_mask(
    height: int, width: int, r_min: float = -1.0, r_max: float = float("inf"), basis: str = "dct"
) -> torch.Tensor:
    """Mask of the frequencies with ``r_min < radius <= r_max``."""
    r = squared_radius(int(height), int(width), check_basis(basis)).double().sqrt()
    return (r > r_min) & (r <= r_max)


def _low_pass_r2(height: int, width: int, keep_fraction: float, basis: str) -> float:
    if not 0.0 < float(keep_fraction) <= 1.0:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    _, values, cum = _shells(height, width, basis)
    idx = int(torch.argmin((cum.double() - keep_fraction * float(cum[-1])).abs()))
    return float(values[idx])


def low_pass_mask(
    height: int, width: int, *, keep_fraction: float | None = None, radius: float | None = None, basis: str = "dct"
) -> torch.Tensor:
    """Mask of the low frequencies: ``radius <= radius`` or the whole shells nearest to ``keep_fraction`` of all."""
    check_basis(basis)
    if (keep_fraction is None) == (radius is None):
        raise ConfigError("low_pass_mask needs exactly one of keep_fraction and radius")
    r2 = squared_radius(int(height), int(width), basis)
    limit = _low_pass_r2(int(height), int(width), float(keep_fraction), basis) if radius is None else float(radius) ** 2
    return r2 <= limit


def high_pass_mask(
    height: int, width: int, *, keep_fraction: float | None = None, radius: float | None = None, basis: str = "dct"
) -> torch.Tensor:
    """Mask of the high frequencies: ``radius > radius``, or about ``keep_fraction`` of all (the highest shells)."""
    if (keep_fraction is None) == (radius is None):
        raise ConfigError("high_pass_mask needs exactly one of keep_fraction and radius")
    if radius is not None:
        return ~low_pass_mask(height, width, radius=radius, basis=basis)
    if not 0.0 < float(keep_fraction) <= 1.0:
        raise ConfigError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    if keep_fraction >= 1.0:
        return torch.ones(int(height), int(width), dtype=torch.bool)
    return ~low_pass_mask(height, width, keep_fraction=1.0 - float(keep_fraction), basis=basis)


def is_hermitian_symmetric(mask: torch.Tensor) -> bool:
    """Whether a centred FFT-layout mask (..., H, W) satisfies ``mask[f] == mask[-f]`` for every frequency ``f``."""
    return bool(torch.equal(mask, mirror_centred(mask)))


def mirror_centred(mask: torch.Tensor) -> torch.Tensor:
    """``out[f] = mask[-f]`` for a centred FFT-layout tensor (frequency ``-f`` taken modulo the size)."""
    h, w = mask.shape[-2:]
    i = (-(torch.arange(h) - h // 2)) % h
    j = (-(torch.arange(w) - w // 2)) % w
    # index of frequency g in the centred layout is (g + size // 2) % size
    i = (i + h // 2) % h
    j = (j + w // 2) % w
    return mask[..., i[:, None], j[None, :]]
