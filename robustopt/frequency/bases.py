"""Frequency bases for images: the centred 2-D FFT and the orthonormal 2-D DCT-II.

Both transforms act on the last two dimensions of a tensor ``(..., H, W)`` (each channel on its
own) and are exactly invertible.  Frequencies are laid out so that a *radius* can be measured:

* ``"fft"``: ``fftshift(fft2(x, norm="ortho"))`` -- the zero frequency sits at index
  ``(H // 2, W // 2)`` and the radius of entry ``(i, j)`` is ``sqrt((i - H//2)^2 + (j - W//2)^2)``
  (integer frequency units).  The spectrum of a real image is Hermitian-symmetric.
* ``"dct"``: ``dctn(x, type=2, norm="ortho")`` over the two image axes -- the DC coefficient sits in
  the corner ``(0, 0)`` and the radius of ``(i, j)`` is ``sqrt(i^2 + j^2)``; this is the layout
  of the code of Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703).

The DCT runs as two small matrix products on the CPU and through ``torch.fft`` (Makhoul's
algorithm) elsewhere, so it keeps full float32 accuracy even where TF32 matrix products are on.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from robustopt.errors import ConfigError

BASES = ("fft", "dct")


def check_basis(basis: str) -> str:
    """Return ``basis`` if it names a known frequency basis, else raise ConfigError."""
    if basis not in BASES:
        raise ConfigError(f"unknown frequency basis '{basis}'; use one of: {', '.join(BASES)}")
    return basis


@lru_cache(maxsize=64)
def _dct_matrix_cached(n: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    mat = math.sqrt(2.0 / n) * torch.cos(math.pi * (2 * i + 1) * k / (2 * n))
    mat[0] = math.sqrt(1.0 / n)
    return mat.to(device=device, dtype=dtype)


def dct_matrix(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """The ``(n, n)`` orthonormal DCT-II matrix ``D`` (``D[k, i] = c_k cos(pi k (2i + 1) / (2n))``).

    ``D @ x`` is the DCT of a length-``n`` vector and ``D.T @ X`` its inverse.  A fresh copy of a
    cached matrix is returned, so callers may modify it.
    """
    return _dct_matrix_cached(int(n), dtype, str(torch.device(device))).clone()


def _use_matmul(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _dct_matmul(x: torch.Tensor, inverse: bool) -> torch.Tensor:
    h, w = x.shape[-2:]
    dh = _dct_matrix_cached(h, x.dtype, str(x.device))
    dw = dh if w == h else _dct_matrix_cached(w, x.dtype, str(x.device))
    if inverse:  # x = Dh^T X Dw
        return dh.T @ x @ dw
    return dh @ x @ dw.T  # X = Dh x Dw^T


@lru_cache(maxsize=64)
def _makhoul_factors(n: int, device: str, real_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.arange(n, dtype=torch.float64)
    twiddle = torch.exp(-1j * math.pi * k / (2 * n))  # W_k = exp(-i pi k / 2n)
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / n)
    cdtype = torch.complex64 if real_dtype == torch.float32 else torch.complex128
    return twiddle.to(device=device, dtype=cdtype), scale.to(device=device, dtype=real_dtype)


def _dct1_fft(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dimension via one FFT of length n (Makhoul, 1980)."""
    n = x.shape[-1]
    twiddle, scale = _makhoul_factors(n, str(x.device), x.dtype)
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    return (torch.fft.fft(v, dim=-1) * twiddle).real * scale


def _idct1_fft(coef: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_dct1_fft` (orthonormal DCT-III) along the last dimension."""
    n = coef.shape[-1]
    twiddle, scale = _makhoul_factors(n, str(coef.device), coef.dtype)
    c = coef / scale
    c_rev = torch.cat([torch.zeros_like(c[..., :1]), c[..., 1:].flip(-1)], dim=-1)  # c_{n-k}, c_n := 0
    v = torch.fft.ifft(torch.complex(c, -c_rev) * twiddle.conj(), dim=-1).real
    half = (n + 1) // 2
    out = torch.empty_like(v)
    out[..., ::2] = v[..., :half]
    out[..., 1::2] = v[..., half:].flip(-1)
    return out


def _dct_fft(x: torch.Tensor, inverse: bool) -> torch.Tensor:
    f = _idct1_fft if inverse else _dct1_fft
    return f(f(x).transpose(-1, -2)).transpose(-1, -2)


def dct2(x: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two dimensions (equals ``scipy.fft.dctn(norm="ortho")``).

    ``method`` is ``"matmul"``, ``"fft"`` or ``"auto"`` (matmul on the CPU, FFT elsewhere).
    """
    if method == "auto":
        method = "matmul" if _use_matmul(x) else "fft"
    return _dct_matmul(x, False) if method == "matmul" else _dct_fft(x, False)


def idct2(coef: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
    """Inverse of :func:`dct2` (orthonormal 2-D DCT-III over the last two dimensions)."""
    if method == "auto":
        method = "matmul" if _use_matmul(coef) else "fft"
    return _dct_matmul(coef, True) if method == "matmul" else _dct_fft(coef, True)


def to_frequency(x: torch.Tensor, basis: str = "dct") -> torch.Tensor:
    """Coefficients of real images ``x`` (..., H, W) in ``basis``.

    ``"dct"`` gives real coefficients with DC at ``(0, 0)``; ``"fft"`` gives the complex,
    centred (``fftshift``-ed) orthonormal spectrum with DC at ``(H // 2, W // 2)``.
    """
    if check_basis(basis) == "dct":
        return dct2(x)
    return torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))


def from_frequency(coef: torch.Tensor, basis: str = "dct") -> torch.Tensor:
    """Images from coefficients in ``basis`` (inverse of :func:`to_frequency`; the real part for ``"fft"``)."""
    if check_basis(basis) == "dct":
        return idct2(coef)
    return torch.fft.ifft2(torch.fft.ifftshift(coef, dim=(-2, -1)), norm="ortho").real


@lru_cache(maxsize=128)
def _squared_radius_cached(height: int, width: int, basis: str) -> torch.Tensor:
    i = torch.arange(height, dtype=torch.int64)
    j = torch.arange(width, dtype=torch.int64)
    if basis == "fft":
        i = i - height // 2
        j = j - width // 2
    return i[:, None] ** 2 + j[None, :] ** 2


def squared_radius(height: int, width: int, basis: str = "dct") -> torch.Tensor:
    """Integer squared radius (H, W) of every frequency in ``basis``'s layout (exact, so shells compare exactly)."""
    return _squared_radius_cached(int(height), int(width), check_basis(basis)).clone()


def radius(height: int, width: int, basis: str = "dct") -> torch.Tensor:
    """Radius (H, W), float64, of every frequency in ``basis``'s layout (see the module docstring)."""
    return squared_radius(height, width, basis).double().sqrt()
