"""Fourier heat maps (Yin et al., "A Fourier perspective on model robustness", NeurIPS 2019).

For every frequency ``f`` the images are perturbed along one real Fourier basis image ``U_f``
(``||U_f||_2 = 1``): ``x + r * eps * U_f`` with a random sign ``r`` per image and channel, then
clipped to [0, 1]; the heat map is the error rate as a function of ``f`` (centred layout, zero
frequency in the middle).  ``U_f`` and ``U_{-f}`` are the same image, so each pair is evaluated once.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from robustopt.errors import ConfigError
from robustopt.metrics import accuracy_and_loss


def fourier_basis_image(
    height: int, width: int, fy: int, fx: int, *, dtype: torch.dtype = torch.float32, device=None
) -> torch.Tensor:
    """The real unit-L2-norm Fourier basis image ``U_f`` (H, W) of frequency ``f = (fy, fx)``.

    ``U_f[m, n]`` is proportional to ``cos(2 pi (fy m / H + fx n / W))``: the inverse FFT of a
    spectrum with equal entries at ``f`` and ``-f``.
    """
    m = torch.arange(height, dtype=torch.float64)[:, None]
    n = torch.arange(width, dtype=torch.float64)[None, :]
    img = torch.cos(2 * math.pi * (fy * m / height + fx * n / width))
    img = img / img.norm()
    return img.to(device=device, dtype=dtype)


def heatmap_frequencies(height: int, width: int, stride: int = 1) -> tuple[list[int], list[int]]:
    """Centred frequencies (rows, columns) on the heat-map grid: every ``stride``-th, zero included."""
    if int(stride) < 1:
        raise ConfigError(f"the heat-map stride must be a positive integer, got {stride}")
    rows = [i - height // 2 for i in range(height) if (i - height // 2) % stride == 0]
    cols = [j - width // 2 for j in range(width) if (j - width // 2) % stride == 0]
    return rows, cols


def _canonical(fy: int, fx: int, height: int, width: int) -> tuple[int, int]:
    """One representative of the pair {f, -f} (frequencies modulo the image size)."""
    a = (fy % height, fx % width)
    b = ((-fy) % height, (-fx) % width)
    return min(a, b)


@torch.no_grad()
def fourier_heatmap(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = 4.0,
    stride: int = 1,
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    generator: Optional[torch.Generator] = None,
    clamp: bool = True,
) -> dict:
    """Error rate of ``model`` under a perturbation of L2 norm ``eps`` along each Fourier basis image.

    Args:
        x, y: images (N, C, H, W) in [0, 1] and labels.
        eps: L2 norm of the perturbation of each channel (Yin et al. use 4 on CIFAR-10).
        stride: evaluate every ``stride``-th frequency per axis (1: the full H x W map).
        generator: CPU generator seeding the random signs (the same signs for every frequency).

    Returns:
        ``{"error": tensor (len(rows), len(cols)), "rows": [...], "cols": [...], "clean_error": float}``
        with the centred frequencies of the grid's rows and columns.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    h, w = x.shape[-2:]
    rows, cols = heatmap_frequencies(h, w, stride)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    dev_gen = torch.Generator(device=device)

    def run(perturbation: torch.Tensor | None) -> float:
        dev_gen.manual_seed(seed)  # the same signs for every frequency

        def add(xb: torch.Tensor, start: int) -> torch.Tensor:
            signs = torch.randint(0, 2, (xb.shape[0], xb.shape[1], 1, 1), generator=dev_gen, device=device)
            out = xb + (2 * signs - 1).to(xb.dtype) * perturbation
            return out.clamp_(0, 1) if clamp else out

        res = accuracy_and_loss(
            model, x, y, batch_size=batch_size, device=device, transform=add if perturbation is not None else None
        )
        return 1.0 - res["accuracy"]

    clean_error = run(None)
    error = torch.empty(len(rows), len(cols), dtype=torch.float64)
    done: dict[tuple[int, int], float] = {}
    for a, fy in enumerate(rows):
        for b, fx in enumerate(cols):
            key = _canonical(fy, fx, h, w)
            if key not in done:
                done[key] = run(float(eps) * fourier_basis_image(h, w, fy, fx, device=device))
            error[a, b] = done[key]
    return {"error": error, "rows": rows, "cols": cols, "clean_error": clean_error}


def heatmap_figure(error, rows, cols, *, title: str = "Fourier heat map (error rate)"):
    """A matplotlib figure of a heat map (frequencies centred, low frequencies in the middle)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    error = torch.as_tensor(error, dtype=torch.float64)
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    step_y = rows[1] - rows[0] if len(rows) > 1 else 1
    step_x = cols[1] - cols[0] if len(cols) > 1 else 1
    extent = (cols[0] - step_x / 2, cols[-1] + step_x / 2, rows[-1] + step_y / 2, rows[0] - step_y / 2)
    im = ax.imshow(error.numpy(), cmap="jet", vmin=0.0, vmax=1.0, extent=extent)
    ax.set_xlabel("horizontal frequency")
    ax.set_ylabel("vertical frequency")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig
