"""Band-limited Gaussian noise: white noise projected onto one band of frequencies.

Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703), Section 3: noise whose energy lies in one
radial band of the DCT (or FFT) spectrum shows which frequencies a model relies on.  The noise is
the orthogonal projection of white Gaussian noise ``N(0, std^2)`` onto the band, so its per-pixel
variance is ``std^2 * |band| / (H * W)`` (the paper's convention); ``std_of="band"`` rescales it so
the band-limited noise itself has per-pixel standard deviation ``std``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from robustopt.errors import ConfigError
from robustopt.frequency.bases import check_basis, dct2, idct2
from robustopt.frequency.masks import band_masks, is_hermitian_symmetric

STD_OF = ("white", "band")


def resolve_band(band: int | torch.Tensor, height: int, width: int, basis: str, n_bands: int = 10) -> torch.Tensor:
    """A band given as an index into :func:`band_masks` or as a bool ``(H, W)`` mask -> the bool mask."""
    if isinstance(band, torch.Tensor):
        mask = band.bool()
        if mask.shape != (height, width):
            raise ConfigError(f"the band mask has shape {tuple(mask.shape)} but the images are {height}x{width}")
        if basis == "fft" and not is_hermitian_symmetric(mask):
            raise ConfigError(
                "an FFT band mask must be Hermitian-symmetric (mask[f] == mask[-f]) for the noise to be real; "
                "build it from radii (robustopt.frequency.masks)"
            )
        return mask
    if not 0 <= int(band) < n_bands:
        raise ConfigError(f"band {band} does not exist; pick a band from 0 to {n_bands - 1}")
    return band_masks(height, width, n_bands, basis)[int(band)]


def project_onto_band(z: torch.Tensor, mask: torch.Tensor, basis: str = "dct") -> torch.Tensor:
    """Orthogonal projection of real images ``z`` (..., H, W) onto the frequencies in ``mask`` (centred layout for
    fft)."""
    check_basis(basis)
    mask = mask.to(z.device)
    if basis == "dct":
        return idct2(dct2(z) * mask.to(z.dtype))
    h, w = z.shape[-2:]
    half = torch.fft.ifftshift(mask, dim=(-2, -1))[..., : w // 2 + 1].to(z.dtype)  # rfft layout
    return torch.fft.irfft2(torch.fft.rfft2(z, norm="ortho") * half, s=(h, w), norm="ortho")


def band_noise_sampler(mask: torch.Tensor, basis: str = "dct", device: torch.device | str | None = None):
    """A function ``sample(shape, generator, dtype=float32) -> noise``: unit-variance white noise projected onto
    ``mask``.

    Draws only the band's coefficients of a white draw (about ``|band| / (H W)`` of the random numbers
    a full draw needs) and transforms them back once:

    * ``"dct"``: the DCT coefficients of white noise are white, so the band's coefficients are N(0, 1).
    * ``"fft"``: the half spectrum ``rfft2(z, norm="ortho")`` of white ``z`` holds complex N(0, 1)
      entries (real and imaginary parts of variance 1/2), tied by Hermitian symmetry in the first (and,
      for even W, the last) column, where self-conjugate entries are real N(0, 1); the sampler draws
      exactly that, then ``irfft2``.

    The result has the distribution of :func:`project_onto_band` applied to white noise.
    """
    basis = check_basis(basis)
    mask = mask.bool()
    h, w = mask.shape
    device = torch.device(device) if device is not None else mask.device
    if basis == "fft" and not is_hermitian_symmetric(mask.cpu()):
        raise ConfigError("an FFT band mask must be Hermitian-symmetric (mask[f] == mask[-f]); build it from radii")
    if basis == "dct":
        idx = mask.flatten().nonzero().squeeze(1).to(device)

        def sample_dct(shape, generator=None, dtype=torch.float32):
            shape = tuple(int(s) for s in shape)
            rows = math.prod(shape[:-2])
            coef = torch.zeros(rows, h * w, device=device, dtype=dtype)
            coef.index_copy_(1, idx, torch.randn(rows, idx.numel(), generator=generator, device=device, dtype=dtype))
            return idct2(coef.view(shape))

        return sample_dct
    wh = w // 2 + 1
    half = torch.fft.ifftshift(mask.cpu(), dim=(-2, -1))[:, :wh]
    idx = half.flatten().nonzero().squeeze(1).to(device)
    tied_cols = [0] + ([w // 2] if w % 2 == 0 and w > 1 else [])
    tied_cols = [j for j in tied_cols if bool(half[:, j].any())]  # columns without band entries stay zero
    mirror = ((-torch.arange(h)) % h).to(device)

    def sample_fft(shape, generator=None, dtype=torch.float32):
        shape = tuple(int(s) for s in shape)
        rows = math.prod(shape[:-2])
        parts = torch.randn(rows, idx.numel(), 2, generator=generator, device=device, dtype=dtype)
        cdtype = torch.complex64 if dtype == torch.float32 else torch.complex128
        spec = torch.zeros(rows, h * wh, device=device, dtype=cdtype)
        spec.index_copy_(1, idx, torch.view_as_complex(parts).mul_(0.5**0.5))
        spec = spec.view(rows, h, wh)
        for j in tied_cols:  # Hermitian along the first axis: S[k, j] = conj(S[-k, j])
            col = spec[:, :, j]
            spec[:, :, j] = (col + col[:, mirror].conj()) * (0.5**0.5)
        return torch.fft.irfft2(spec, s=(h, w), norm="ortho").view(shape)

    return sample_fft


def band_limited_noise(
    shape: Sequence[int],
    band: int | torch.Tensor,
    std: float,
    basis: str = "dct",
    generator: torch.Generator | None = None,
    *,
    n_bands: int = 10,
    white: torch.Tensor | None = None,
    std_of: str = "white",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Real Gaussian noise of ``shape`` (..., H, W) whose energy lies in one frequency band only.

    Args:
        shape: noise shape, e.g. ``(N, C, H, W)``; every channel gets its own noise.
        band: index of a band of :func:`~robustopt.frequency.masks.band_masks` (``n_bands`` bands, lowest
            first) or a bool ``(H, W)`` mask in ``basis``'s layout.
        std: standard deviation of the white noise before projection (``std_of="white"``, the paper's
            convention) or of the band-limited noise itself (``std_of="band"``).
        basis: ``"dct"`` or ``"fft"``.
        generator: the ``torch.Generator`` to draw from (on ``device``); the global RNG is never used
            unless it is None.
        white: a white-noise draw of ``shape`` with unit variance to project -- pass the same draw for
            every band to reproduce the paper (one draw, all bands).  Without it only the band's
            coefficients of a fresh white draw are drawn (:func:`band_noise_sampler`), which is faster
            and has the same distribution.  (Projections of one white draw onto disjoint bands are
            independent, so the two options differ in which random numbers are used, not in law.)

    Returns:
        A real tensor of ``shape``; add it to images and clamp (or not -- the paper does not).
    """
    check_basis(basis)
    if std_of not in STD_OF:
        raise ConfigError(f"std_of must be one of {', '.join(STD_OF)}, got '{std_of}'")
    if float(std) < 0:
        raise ConfigError(f"the noise standard deviation must be non-negative, got {std}")
    shape = tuple(int(s) for s in shape)
    h, w = shape[-2:]
    mask = resolve_band(band, h, w, basis, n_bands)
    scale = float(std)
    if std_of == "band":
        scale *= (h * w / max(int(mask.sum()), 1)) ** 0.5
    if white is None:
        if device is None:
            device = generator.device if generator is not None else "cpu"
        return band_noise_sampler(mask, basis, device)(shape, generator, dtype) * scale
    if tuple(white.shape) != shape:
        raise ConfigError(f"the white-noise draw has shape {tuple(white.shape)}, expected {shape}")
    return project_onto_band(white, mask, basis) * scale
