"""Operator norms of 2-D convolutions: iterative estimates, exact FFT values and certified upper bounds.

A ``Conv2d`` applied to inputs of shape ``(C, H, W)`` is the linear map ``x -> conv(pad(x))`` (the
bias does not change Lipschitz constants).  This module computes its largest singular value in
three independent ways:

* **Iteratively** (:func:`conv_operator` + :func:`~robustopt.lipschitz.operators.lanczos_norm`):
  Lanczos on the true operator (any stride, padding, dilation, groups, padding mode), with the
  adjoint from ``conv_transpose2d`` (zero padding) or autograd (other padding modes).  Approaches
  the norm from below.
* **Exactly by FFT** (:func:`circular_singular_values`) for circular padding that keeps the size
  (Sedghi, Gupta & Long, "The singular values of convolutional layers", ICLR 2019), extended to
  strides that divide the input size by a polyphase decomposition: the operator is block-diagonal
  in the Fourier basis, every singular value is a singular value of one ``C_out x C_in s^2`` block.
* **Certified upper bound** (:func:`certified_upper_bound`): the zero-padded canvas is embedded
  in a torus large enough that no output window wraps around, so the layer is ``crop o circular
  conv o embed`` and its norm is at most the circular conv's norm (times the norm of the padding
  map for reflect/replicate/circular padding); the per-frequency block norms are bounded from above
  by Gram iteration (Delattre, Barthélemy, Araujo & Allauzen, "Efficient bound of Lipschitz
  constant for convolutional layers by Gram iteration", ICML 2023), whose Frobenius-norm bound is
  an upper bound at every iteration.

:func:`reshaped_kernel_norm` (the largest singular value of the kernel reshaped to
``(C_out, C_in k k)``) is *not* the operator norm but a lower bound on it; the paper's per-layer
values (some convs reshaped to ``(C_in, -1)``) are in :mod:`robustopt.lipschitz.paper`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robustopt.errors import ConfigError
from robustopt.lipschitz.operators import (
    DTYPE,
    TensorOperator,
    dense_norm,
    lanczos_norm,
    power_iteration_norm,
)

_PAD_MODES = {"zeros": "constant", "circular": "circular", "reflect": "reflect", "replicate": "replicate"}


@dataclass(frozen=True)
class ConvGeometry:
    """Everything but the weights that defines a ``Conv2d`` acting on ``(C, H, W)`` inputs.

    ``pads`` is ``(top, bottom, left, right)``; ``padding_mode`` is one of ``zeros``, ``circular``,
    ``reflect``, ``replicate``.
    """

    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    pads: tuple[int, int, int, int]
    padding_mode: str

    @classmethod
    def from_module(cls, conv: nn.Conv2d, in_shape: Sequence[int]) -> "ConvGeometry":
        """The geometry of ``conv`` for per-sample input shape ``in_shape = (C, H, W)``."""
        if len(in_shape) != 3:
            raise ConfigError(f"a Conv2d needs a (C, H, W) input shape, got {tuple(in_shape)}")
        kh, kw = conv.kernel_size
        dh, dw = conv.dilation
        if isinstance(conv.padding, str):
            if conv.padding == "valid":
                pads = (0, 0, 0, 0)
            else:  # "same": PyTorch puts the extra pixel of an odd total at the end
                th, tw = dh * (kh - 1), dw * (kw - 1)
                pads = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            ph, pw = conv.padding
            pads = (ph, ph, pw, pw)
        return cls(
            in_shape=tuple(int(s) for s in in_shape),
            out_channels=int(conv.out_channels),
            kernel=(int(kh), int(kw)),
            stride=tuple(int(s) for s in conv.stride),
            dilation=(int(dh), int(dw)),
            groups=int(conv.groups),
            pads=tuple(int(p) for p in pads),
            padding_mode=str(conv.padding_mode),
        )

    @property
    def canvas(self) -> tuple[int, int]:
        """Height and width of the padded input."""
        _, h, w = self.in_shape
        t, b, left, right = self.pads
        return h + t + b, w + left + right

    @property
    def out_hw(self) -> tuple[int, int]:
        hc, wc = self.canvas
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        return (hc - dh * (kh - 1) - 1) // sh + 1, (wc - dw * (kw - 1) - 1) // sw + 1

    @property
    def circular_exact(self) -> bool:
        """True when the layer is exactly a (strided) circular convolution on the ``H x W`` torus."""
        _, h, w = self.in_shape
        t, b, left, right = self.pads
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        return (
            self.padding_mode == "circular"
            and t + b == dh * (kh - 1)
            and left + right == dw * (kw - 1)
            and h % sh == 0
            and w % sw == 0
        )


class ConvOperator(TensorOperator):
    """The linear part of a ``Conv2d`` (no bias) on ``(C, H, W)`` inputs, with its exact adjoint.

    The adjoint is ``conv_transpose2d`` (with the ``output_padding`` that restores the canvas size)
    followed by the adjoint of the padding: a crop for zero padding, autograd otherwise.
    """

    def __init__(self, weight: torch.Tensor, geometry: ConvGeometry, dtype=DTYPE) -> None:
        self.weight = weight.detach().to(device="cpu", dtype=dtype)
        self.geometry = geometry
        t, b, left, right = geometry.pads
        self._fpad = (left, right, t, b)
        self._pad_mode = _PAD_MODES[geometry.padding_mode]
        super().__init__(self._apply, geometry.in_shape, dtype=dtype)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if not any(self._fpad):
            return x
        return F.pad(x, self._fpad, mode=self._pad_mode)

    def _apply(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        return F.conv2d(self._pad(x), self.weight, None, g.stride, 0, g.dilation, g.groups)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        hc, wc = g.canvas
        (kh, kw), (sh, sw), (dh, dw) = g.kernel, g.stride, g.dilation
        oh, ow = y.shape[-2:]
        out_pad = (hc - ((oh - 1) * sh + dh * (kh - 1) + 1), wc - ((ow - 1) * sw + dw * (kw - 1) + 1))
        with torch.no_grad():
            canvas = F.conv_transpose2d(y, self.weight, None, g.stride, 0, out_pad, g.groups, g.dilation)
        t, b, left, right = g.pads
        if self._pad_mode == "constant" or not any(g.pads):
            return canvas[..., t : hc - b, left : wc - right]
        x0 = torch.zeros((y.shape[0], *self.in_shape), dtype=y.dtype, requires_grad=True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self._pad(x0), x0, grad_outputs=canvas)
        return grad


def conv_operator(conv: nn.Conv2d, in_shape: Sequence[int], dtype=DTYPE) -> ConvOperator:
    """The linear map ``conv`` applies to per-sample inputs of shape ``in_shape = (C, H, W)``."""
    return ConvOperator(conv.weight, ConvGeometry.from_module(conv, in_shape), dtype=dtype)


def reshaped_kernel_norm(weight: torch.Tensor) -> float:
    """The largest singular value of the weight reshaped to ``(C_out, -1)`` (float64 LAPACK).

    For a linear layer this is the exact operator norm.  For a convolution (groups = 1) it is *not*:
    it is the norm of a submatrix of the conv's matrix (one output position's rows, restricted to its
    window), so it is at most the operator norm whenever one window lies inside the input, and the
    norm is at most ``sqrt(k_h k_w)`` times it at stride 1.  It is also not always the paper's
    per-layer value: the authors view some convs as ``(C_in, -1)`` (see
    :func:`robustopt.lipschitz.paper_bound`).
    """
    w = weight.detach().to(device="cpu", dtype=torch.float64)
    return float(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2))


def padding_multiplicity(size: int, before: int, after: int, mode: str) -> int:
    """The largest number of copies of one input pixel that padding a side of ``size`` makes.

    The padding map ``P`` is a selection matrix, so ``P^T P`` is diagonal with these counts and
    ``||P|| = sqrt(max count)``; zero padding copies nothing (1).
    """
    if mode == "zeros" or (before == 0 and after == 0):
        return 1
    idx = torch.arange(size, dtype=torch.float64).view(1, 1, size)
    padded = F.pad(idx, (before, after), mode=_PAD_MODES[mode]).reshape(-1).long()
    return int(torch.bincount(padded, minlength=size).max())


def _torus_blocks(
    weight: torch.Tensor, geometry: ConvGeometry, torus: tuple[int, int], shift: tuple[int, int], full: bool
) -> torch.Tensor:
    """Per-frequency matrices of the strided circular convolution with ``weight`` on a torus.

    Taps of the (dilated) kernel go to positions ``(d i - shift) mod N`` (aliased taps add up); the
    stride is removed by a polyphase split (``s_h s_w`` input phases become extra input channels on
    the ``N/s`` torus).  Returns ``(B, C_out/g, C_in/g * s_h s_w)`` complex matrices, one per group and
    frequency (``full``: all frequencies; else the ``rfft2`` half, which has the same singular values).
    """
    w = weight.detach().to(device="cpu", dtype=torch.float64)
    cout, cin_g, kh, kw = w.shape
    nh, nw = torus
    (sh, sw), (dh, dw), groups = geometry.stride, geometry.dilation, geometry.groups
    rows = [(dh * i - shift[0]) % nh for i in range(kh)]
    cols = [(dw * j - shift[1]) % nw for j in range(kw)]
    k = torch.zeros((cout, cin_g, nh, nw), dtype=torch.float64)
    for i in range(kh):
        for j in range(kw):
            k[:, :, rows[i], cols[j]] += w[:, :, i, j]
    mh, mw = nh // sh, nw // sw
    k = k.view(cout, cin_g, mh, sh, mw, sw).permute(0, 1, 3, 5, 2, 4).reshape(cout, cin_g * sh * sw, mh, mw)
    k = k.reshape(groups, cout // groups, cin_g * sh * sw, mh, mw)
    khat = torch.fft.fft2(k) if full else torch.fft.rfft2(k)
    return khat.permute(0, 3, 4, 1, 2).reshape(-1, cout // groups, cin_g * sh * sw)


def circular_singular_values(weight: torch.Tensor, geometry: ConvGeometry) -> torch.Tensor:
    """Every singular value (descending) of a circular-padding conv that is a circular convolution.

    Sedghi, Gupta & Long (ICLR 2019), with a polyphase split for strides that divide ``H`` and ``W``.
    Requires ``geometry.circular_exact``; raises :class:`~robustopt.errors.ConfigError` otherwise.
    """
    if not geometry.circular_exact:
        raise ConfigError(
            "the FFT singular values need circular padding of total d*(k-1) per side pair and strides dividing "
            f"the input size; got {geometry}"
        )
    _, h, w = geometry.in_shape
    blocks = _torus_blocks(weight, geometry, (h, w), (geometry.pads[0], geometry.pads[2]), full=True)
    return torch.linalg.svdvals(blocks).reshape(-1).sort(descending=True).values


def gram_iteration_bound(mats: torch.Tensor, rtol: float = 1e-4, max_iter: int = 40) -> float:
    """A certified upper bound on ``max_b ||mats[b]||_2`` by Gram iteration (Delattre et al., ICML 2023).

    See :func:`gram_iteration` (this returns only the bound).
    """
    return gram_iteration(mats, rtol=rtol, max_iter=max_iter)[0]


def gram_iteration(
    mats: torch.Tensor, rtol: float = 1e-4, max_iter: int = 40
) -> tuple[float, int, torch.Tensor | None]:
    """Gram iteration on a batch of matrices: ``(upper bound on max_b ||mats[b]||_2, argmax b, its top right singular
    vector)``.

    Delattre, Barthélemy, Araujo & Allauzen, "Efficient bound of Lipschitz constant for convolutional
    layers by Gram iteration" (ICML 2023).  With ``M_0 = M`` and ``M_{t+1} = M_t^H M_t``,
    ``sigma_1(M) <= ||M_t||_F^(1/2^t)`` at every ``t`` (an upper bound however few steps are taken),
    and ``sigma_1(M) >= (||M_{t+1}||_F / ||M_t||_F)^(1/2^t)`` (the Gram matrices are positive
    semi-definite from ``t = 1`` on).  Matrices whose upper bound falls below the largest lower
    bound cannot hold the maximum and are dropped; iteration stops once the maximum is bracketed
    within ``rtol`` (or after ``max_iter`` steps; the value is an upper bound either way, up to
    float64 rounding).  Each step is rescaled to unit Frobenius norm, the scale kept in log space.
    The singular vector (approximate) is a by-product used to start Lanczos.
    """
    m = mats.to(torch.complex128 if mats.is_complex() else torch.float64)
    if m.numel() == 0:
        return 0.0, 0, None
    wide = m.shape[-2] < m.shape[-1]
    a = m.mH if wide else m  # tall: the Gram matrices are the smaller side squared
    fro = torch.linalg.matrix_norm(a, ord="fro")
    index = torch.nonzero(fro > 0).reshape(-1)
    if index.numel() == 0:
        return 0.0, 0, None
    a, logc = a[index] / fro[index, None, None].to(a.dtype), fro[index].log()
    # cheap lower bounds for pruning: a few batched power-iteration steps (Rayleigh quotients)
    v = torch.ones(a.shape[0], a.shape[-1], 1, dtype=a.dtype)
    for _ in range(8):
        v = a.mH @ (a @ v)
        v = v / torch.linalg.vector_norm(v, dim=(-2, -1), keepdim=True).clamp_min(1e-300)
    power_lower = float((torch.linalg.vector_norm(a @ v, dim=(-2, -1)).log() + logc).exp().max())
    t = 0
    while True:
        upper = torch.exp(logc / 2**t)
        g = a.mH @ a
        f = torch.linalg.matrix_norm(g, ord="fro")
        lower = torch.exp((logc + f.log()) / 2**t)
        best_upper, best_lower = float(upper.max()), max(float(lower.max()), power_lower)
        if best_upper <= best_lower * (1.0 + rtol) or t >= max_iter:
            break
        alive = upper >= best_lower
        a = g[alive] / f[alive, None, None].to(g.dtype)
        logc, index = 2.0 * logc[alive] + f[alive].log(), index[alive]
        t += 1
    best = int(torch.argmax(upper))
    vec = g[best][:, int(torch.argmax(torch.linalg.vector_norm(g[best], dim=0)))]  # dominant column of the Gram
    vec = vec / torch.linalg.vector_norm(vec)
    b = int(index[best])
    if wide:  # vec is a left singular vector of mats[b]; map it to the right one
        vec = m[b].mH @ vec
        vec = vec / torch.linalg.vector_norm(vec).clamp_min(1e-300)
    return best_upper, b, vec


ROUNDING_MARGIN = 1e-9
"""Relative margin added to LAPACK eigenvalues so that float64 rounding cannot make a bound too small."""


def max_block_norm(mats: torch.Tensor, rtol: float = 1e-4, how: str = "eigh") -> tuple[float, int, torch.Tensor | None]:
    """Upper bound on ``max_b ||mats[b]||_2``, the argmax ``b`` and its (approximate) top right singular vector.

    ``how="eigh"`` (default): the exact block norms from LAPACK's Hermitian eigenvalues of the smaller
    Gram matrix ``M^H M`` or ``M M^H`` (float64), times ``1 + ROUNDING_MARGIN``; the backward-error
    bound of the eigen-solver is orders of magnitude below that margin.  ``how="gram"``: Gram
    iteration (:func:`gram_iteration`, Delattre et al. 2023), an upper bound at every step, stopped
    once bracketed within ``rtol``.
    """
    if how == "gram":
        return gram_iteration(mats, rtol=rtol)
    if how != "eigh":
        raise ConfigError(f"unknown block-norm method '{how}'; use 'eigh' or 'gram'")
    m = mats.to(torch.complex128 if mats.is_complex() else torch.float64)
    if m.numel() == 0:
        return 0.0, 0, None
    wide = m.shape[-2] < m.shape[-1]
    gram = m @ m.mH if wide else m.mH @ m
    top = torch.linalg.eigvalsh(gram)[:, -1]
    b = int(torch.argmax(top))
    bound = math.sqrt(max(float(top[b]), 0.0)) * (1.0 + ROUNDING_MARGIN)
    vec = torch.linalg.eigh(gram[b])[1][:, -1]
    if wide:  # a left singular vector: map it to the right one
        vec = m[b].mH @ vec
        vec = vec / torch.linalg.vector_norm(vec).clamp_min(1e-300)
    return bound, b, vec


def certified_upper_bound(weight: torch.Tensor, geometry: ConvGeometry, rtol: float = 1e-4, how: str = "eigh") -> float:
    """A certified upper bound on the operator norm of the conv described by ``weight`` and ``geometry``.

    Size-preserving circular padding is exactly a circular convolution (bound = Gram bound of its FFT
    blocks).  Otherwise the padded canvas is embedded in the torus of side ``canvas`` (rounded up to
    a multiple of the stride): output windows never wrap, so the layer is ``crop o S o C o embed o P``
    with the strided circular conv ``S o C`` and the padding map ``P`` (``||P||^2`` = the largest
    number of copies of a pixel; 1 for zero padding).  The largest per-frequency block norm is bounded
    by :func:`max_block_norm` (``how``: ``eigh`` or ``gram``; ``rtol`` is the Gram bracket width).
    A 1x1 conv without padding is exactly ``W (x) I`` on the kept pixels: its bound is ``||W||``.
    """
    return _torus_bound(weight, geometry, rtol, how)[0]


def _torus_bound(
    weight: torch.Tensor, geometry: ConvGeometry, rtol: float, how: str
) -> tuple[float, torch.Tensor | None]:
    """``(certified bound, start vector for Lanczos of shape in_shape or None)``."""
    _, h, w = geometry.in_shape
    t, b, left, right = geometry.pads
    if geometry.kernel == (1, 1) and not any(geometry.pads):
        # a 1x1 conv without padding is W (x) I on the pixels it keeps: its norm is that of W (per group)
        wg = weight.detach().to(device="cpu", dtype=torch.float64).reshape(geometry.groups, -1, weight.shape[1])
        return float(torch.linalg.matrix_norm(wg, ord=2).max()) * (1.0 + ROUNDING_MARGIN), None
    if geometry.circular_exact:
        blocks = _torus_blocks(weight, geometry, (h, w), (t, left), full=False)
        return max_block_norm(blocks, rtol=rtol, how=how)[0], None
    hc, wc = geometry.canvas
    sh, sw = geometry.stride
    torus = (math.ceil(hc / sh) * sh, math.ceil(wc / sw) * sw)
    blocks = _torus_blocks(weight, geometry, torus, (0, 0), full=False)
    pad_factor = math.sqrt(
        padding_multiplicity(h, t, b, geometry.padding_mode)
        * padding_multiplicity(w, left, right, geometry.padding_mode)
    )
    bound, index, vec = max_block_norm(blocks, rtol=rtol, how=how)
    start = None
    if vec is not None:  # the torus's top singular vector, a plane wave, cut to the input window
        mh, mw = torus[0] // sh, torus[1] // sw
        half = mw // 2 + 1
        group, rest = divmod(index, mh * half)
        fh, fw = divmod(rest, half)
        cin_g = weight.shape[1]
        phase = torch.exp(
            2j
            * math.pi
            * (
                fh * torch.arange(mh, dtype=torch.float64)[:, None] / mh
                + fw * torch.arange(mw, dtype=torch.float64)[None, :] / mw
            )
        )
        poly = (vec.conj().reshape(cin_g, sh, sw, 1, 1) * phase).real  # (c, r_h, r_w, b_h, b_w)
        wave = poly.permute(0, 3, 1, 4, 2).reshape(cin_g, torus[0], torus[1])
        start = torch.zeros(geometry.in_shape, dtype=torch.float64)
        start[group * cin_g : (group + 1) * cin_g] = wave[:, t : t + h, left : left + w]
    return pad_factor * bound, start


@dataclass(frozen=True)
class ConvNorms:
    """The numbers reported for one conv layer.

    ``norm``: the operator norm (iterative estimate, or exact by FFT), at most the true norm up to
    rounding; ``upper``: certified upper bound; ``method``: how ``norm`` was computed.
    """

    norm: float
    upper: float
    method: str


def conv_norms(
    conv: nn.Conv2d,
    in_shape: Sequence[int],
    *,
    method: str = "lanczos",
    rtol: float = 1e-5,
    seed: int = 0,
    gram_rtol: float = 1e-4,
    certified: str = "eigh",
    dense_max_entries: int = 2**22,
) -> ConvNorms:
    """Operator norm and certified upper bound of ``conv`` on ``(C, H, W)`` inputs.

    Args:
        method: ``"lanczos"`` (default), ``"power"`` or ``"dense"`` (full matrix + SVD; small layers
            only).  Size-preserving circular convolutions use the exact FFT values whatever the method.
        rtol: relative tolerance of the iterative methods.
        seed: seeds the start vector.
        gram_rtol: bracket width at which the Gram iteration stops.
        certified: how the certified bound bounds the torus's block norms: ``eigh`` or ``gram``.
        dense_max_entries: operators with at most this many matrix entries are handled densely
            (exact norm by LAPACK SVD, which also replaces the torus bound when smaller).
    """
    geometry = ConvGeometry.from_module(conv, in_shape)
    op = ConvOperator(conv.weight, geometry)
    if method == "dense" or (not geometry.circular_exact and op.in_numel * op.out_numel <= dense_max_entries):
        # small operator: the full matrix is cheap and exact (and tighter than the torus bound)
        norm = dense_norm(op)
        return ConvNorms(norm, norm * (1.0 + ROUNDING_MARGIN), "dense")
    upper, start = _torus_bound(conv.weight, geometry, gram_rtol, certified)
    if geometry.circular_exact:
        norm, used = float(circular_singular_values(conv.weight, geometry)[0]), "fft"
    else:
        if method == "lanczos":
            norm = lanczos_norm(op, rtol=rtol, seed=seed, v0=start)
        elif method == "power":
            norm = power_iteration_norm(op, rtol=rtol, seed=seed)[0]
        else:
            raise ConfigError(f"unknown conv norm method '{method}'; use one of lanczos, power, dense")
        used = method
    return ConvNorms(norm=norm, upper=max(upper, norm), method=used)


__all__ = [
    "ConvGeometry",
    "ConvNorms",
    "ConvOperator",
    "certified_upper_bound",
    "circular_singular_values",
    "conv_norms",
    "conv_operator",
    "gram_iteration",
    "gram_iteration_bound",
    "max_block_norm",
    "padding_multiplicity",
    "reshaped_kernel_norm",
]
