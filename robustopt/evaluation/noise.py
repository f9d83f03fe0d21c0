"""Noise evaluations: ``gaussian_noise``, ``band_noise`` and ``fourier_heatmap``.

* ``gaussian_noise`` -- accuracy under ``clamp(x + sqrt(var) N(0, 1), 0, 1)`` for the per-data-set
  variances of Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703; their ``test_gaussian``).
* ``band_noise`` -- accuracy drop (clean minus noisy) under band-limited Gaussian noise, one band at a
  time (the data of the paper's band-limited-noise figure).  By default it follows the authors'
  ``test_gaussian_LF_HF_v2``: per batch one white draw ``sqrt(var) N(0, 1)`` (var = the variance of the
  white noise per pixel), shared by all bands and projected onto each band with the orthonormal DCT;
  neither the noise nor the noisy images are clamped.  ``edges: paper`` gives the authors' bands (their
  radii ``r_list`` for 28, 32 and 224 px with their ``r < r_k`` rule); the FFT basis, equal-size bands
  (``n_bands``), a fresh draw per band (``same_draw: false``), clamping and ``std_of: band`` are
  robustopt's additions.
* ``fourier_heatmap`` -- error rate per Fourier basis direction (Yin et al., NeurIPS 2019).

Per-image outcomes.  So that accuracies on the same test images can be compared image by image
(McNemar's test) and restricted to the images other evaluations used, ``gaussian_noise`` and
``band_noise`` also record which images were classified correctly, each as a
:func:`robustopt.bits.encode_mask` string over the evaluated images (the first ``n_samples`` test
images, in order; decode with :func:`robustopt.bits.decode_mask`):

* ``clean_correct`` -- the clean images (both evaluations);
* ``gaussian_noise``: ``correct`` -- one mask per variance (parallel to ``accuracy``);
* ``band_noise``: ``<basis>.noisy_correct`` -- one mask per band (parallel to ``<basis>.noisy_accuracy``).

With ``n_draws > 1`` the noisy masks are those of the first draw (seeded alike for every run, so two
models' masks see the same noise); the accuracies average all draws.

Noise is drawn on the model's device from generators seeded by ``ctx.generator(...)``; the global
RNG is never touched.  For a fixed batch size, results depend only on ``ctx.seed``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from robustopt.bits import encode_mask
from robustopt.data import canonical_dataset_name
from robustopt.errors import ConfigError
from robustopt.evaluation.registry import EvalContext, EvalData, evaluation_options, register_evaluation
from robustopt.frequency.bases import check_basis
from robustopt.frequency.heatmap import fourier_heatmap, heatmap_figure
from robustopt.frequency.masks import Bands, band_masks, bands_from_edges, paper_bands
from robustopt.frequency.noise import band_noise_sampler, project_onto_band
from robustopt.metrics import Outcomes, forward_outcomes
from robustopt.paper import BAND_NOISE_VARIANCE, GAUSSIAN_VARIANCES  # the paper's variances per data set


def _default_for(table: dict, dataset: str, evaluation: str, option: str) -> Any:
    key = canonical_dataset_name(dataset)
    if key not in table:
        raise ConfigError(
            f"eval.{evaluation}.{option} has no default for data set '{dataset}'; set eval.{evaluation}.{option} in "
            "the config"
        )
    return table[key]


def _seed(ctx: EvalContext, offset: int) -> int:
    """A 62-bit seed for a device generator, drawn from ``ctx.generator(offset)``."""
    return int(torch.randint(0, 2**62, (1,), generator=ctx.generator(offset)).item())


# Offsets of ``ctx.generator`` for the noise draws, so that every draw has its own stream fixed by the evaluation's
# seed alone.  gaussian_noise: draw d uses offset d.  band_noise: basis b, draw d shares offset
# BAND_DRAW_STRIDE * b + d between its bands (the authors' one white draw per batch); with ``same_draw: false``,
# band k draws at FRESH_BAND_OFFSET + BAND_DRAW_STRIDE * (BAND_DRAW_STRIDE * b + d) + k.  The streams are distinct
# for fewer than BAND_DRAW_STRIDE draws and bands.
BAND_DRAW_STRIDE = 1000
FRESH_BAND_OFFSET = 1_000_000


def _band_offset(basis_index: int, draw: int, band: Optional[int] = None) -> int:
    """The ``ctx.generator`` offset of a band-noise draw: shared by the bands (``band`` None) or one band's own."""
    shared = BAND_DRAW_STRIDE * basis_index + draw
    return shared if band is None else FRESH_BAND_OFFSET + BAND_DRAW_STRIDE * shared + band


def _stderr(values: list[float]) -> Optional[float]:
    if len(values) < 2:
        return None
    return float(torch.tensor(values, dtype=torch.float64).std(unbiased=True) / math.sqrt(len(values)))


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values))


def _outcomes(model, data: EvalData, ctx: EvalContext, transform: Optional[Callable] = None) -> Outcomes:
    """Per-image outcomes of ``model`` on ``data`` in batches of ``ctx.batch_size`` images, in order, in eval mode
    (:func:`robustopt.metrics.forward_outcomes`); ``transform(xb, start)`` (e.g. adds noise) is applied to each."""
    return forward_outcomes(model, data.x, data.y, batch_size=ctx.batch_size, device=ctx.device, transform=transform)


def _noisy_outcomes(model, data: EvalData, ctx: EvalContext, seed: int, sample: Callable, clamp: bool) -> Outcomes:
    """One pass over ``data`` adding ``sample(shape, generator, dtype)`` to each batch (generator seeded with
    ``seed``)."""
    gen = torch.Generator(device=ctx.device)
    gen.manual_seed(seed)

    def add_noise(xb: torch.Tensor, start: int) -> torch.Tensor:
        out = xb + sample(xb.shape, gen, xb.dtype)
        return out.clamp_(0, 1) if clamp else out

    return _outcomes(model, data, ctx, add_noise)


def _white(std: float) -> Callable:
    def sample(shape, gen, dtype):
        return torch.randn(shape, generator=gen, device=gen.device, dtype=dtype).mul_(std)

    return sample


GAUSSIAN_DEFAULTS = {"variances": None, "n_samples": None, "n_draws": 1, "clamp": True}


def _gaussian_variances(opts: dict, dataset: str) -> list[float]:
    """The variances ``opts`` ask for (null: the paper's for ``dataset``)."""
    variances = opts["variances"]
    if variances is None:
        variances = _default_for(GAUSSIAN_VARIANCES, dataset, "gaussian_noise", "variances")
    return [float(v) for v in variances]


def check_gaussian_noise_options(opts: dict, dataset: str) -> None:
    """The registered check of ``gaussian_noise``'s option values (merged with :data:`GAUSSIAN_DEFAULTS`)."""
    variances = _gaussian_variances(opts, dataset)
    if any(v < 0 for v in variances):
        raise ConfigError(f"eval.gaussian_noise.variances must be non-negative, got {variances}")
    n_draws = int(opts["n_draws"])
    if n_draws < 1:
        raise ConfigError(f"eval.gaussian_noise.n_draws must be at least 1, got {n_draws}")


@register_evaluation("gaussian_noise", defaults=GAUSSIAN_DEFAULTS, check=check_gaussian_noise_options)
def evaluate_gaussian_noise(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Accuracy under additive Gaussian noise ``clamp(x + sqrt(var) N(0, 1), 0, 1)`` for each variance.

    Options: ``variances`` (null: the paper's values for the data set, :data:`GAUSSIAN_VARIANCES`),
    ``n_samples`` (first N test images; null: all), ``n_draws`` (noise draws averaged, with their
    standard error), ``clamp`` (true, as the authors' ``test_gaussian``).  Every variance sees the same
    standard-normal draw scaled by its std (the authors draw afresh per variance: the same law).

    Returns ``variances``, ``accuracy`` / ``accuracy_stderr`` / ``loss`` (lists over the variances),
    ``clean_accuracy``, the settings, and the per-image masks ``clean_correct`` and ``correct`` (one per
    variance, first draw; see the module docstring).
    """
    opts = evaluation_options("gaussian_noise", cfg, data.dataset)
    variances = _gaussian_variances(opts, data.dataset)
    n_draws = int(opts["n_draws"])
    data = data.subset(opts["n_samples"])
    clean = _outcomes(model, data, ctx)
    acc = [[0.0] * n_draws for _ in variances]
    loss = [[0.0] * n_draws for _ in variances]
    correct = [""] * len(variances)
    for d in range(n_draws):
        seed = _seed(ctx, d)
        for i, var in enumerate(variances):
            std = math.sqrt(var)
            res = _noisy_outcomes(model, data, ctx, seed, _white(std), bool(opts["clamp"]))
            acc[i][d], loss[i][d] = res.accuracy, res.loss
            if d == 0:
                correct[i] = encode_mask(res.correct)
    result = {
        "variances": variances,
        "accuracy": [_mean(a) for a in acc],
        "accuracy_stderr": [_stderr(a) for a in acc],
        "loss": [_mean(v) for v in loss],
        "clean_accuracy": clean.accuracy,
        "n": len(data),
        "n_draws": n_draws,
        "clamp": bool(opts["clamp"]),
        "clean_correct": encode_mask(clean.correct),
        "correct": correct,
    }
    if ctx.tracker is not None:
        rows = [
            [v, math.sqrt(v), a, s, lo]
            for v, a, s, lo in zip(variances, result["accuracy"], result["accuracy_stderr"], result["loss"])
        ]
        ctx.tracker.log_table("gaussian_noise", ["variance", "std", "accuracy", "accuracy_stderr", "loss"], rows)
    return result


BAND_DEFAULTS = {
    "variance": None,
    "bases": ["dct", "fft"],
    "n_bands": 10,
    "edges": None,
    "n_draws": 1,
    "same_draw": True,
    "clamp": False,
    "std_of": "white",
    "n_samples": None,
}


def _band_noise_sampler(bands: Bands, k: int, std: float, device: torch.device, same_draw: bool) -> Callable:
    """``sample(shape, generator, dtype)``: white noise of std ``std`` projected onto band ``k``.

    ``same_draw``: the authors' procedure -- a full white draw per batch (the same for every band, as the
    generator is reseeded alike) projected onto the band with the orthonormal DCT (or FFT).  Otherwise only
    the band's coefficients of a fresh white draw are drawn
    (:func:`~robustopt.frequency.noise.band_noise_sampler`, cheaper).
    """
    mask = bands.masks[k].to(device)
    if not same_draw:
        draw = band_noise_sampler(mask, bands.basis, device)

        def fresh(shape, gen, dtype):
            return draw(shape, gen, dtype).mul_(std)

        return fresh

    def projected(shape, gen, dtype):
        white = torch.randn(shape, generator=gen, device=gen.device, dtype=dtype)
        return project_onto_band(white, mask, bands.basis).mul_(std)

    return projected


def _bands(h: int, w: int, basis: str, edges, n_bands: int) -> Bands:
    """The bands of ``basis`` that ``edges`` (null, ``paper`` or radii) and ``n_bands`` ask for."""
    if edges is None:
        return band_masks(h, w, n_bands, basis)
    if isinstance(edges, str):
        return paper_bands(h, w, basis)
    return bands_from_edges(h, w, edges, basis)


def _band_variance(opts: dict, dataset: str) -> float:
    """The white noise's variance ``opts`` ask for (null: the paper's for ``dataset``)."""
    variance = opts["variance"]
    if variance is None:
        variance = _default_for(BAND_NOISE_VARIANCE, dataset, "band_noise", "variance")
    return float(variance)


def _band_bases(opts: dict) -> list[str]:
    return [opts["bases"]] if isinstance(opts["bases"], str) else list(opts["bases"])


def check_band_noise_options(opts: dict, dataset: str) -> None:
    """The registered check of ``band_noise``'s option values (merged with :data:`BAND_DEFAULTS`); the radii of
    ``edges`` are checked against the image size when the bands are made."""
    variance = _band_variance(opts, dataset)
    if variance < 0:
        raise ConfigError(f"eval.band_noise.variance must be non-negative, got {variance}")
    for basis in _band_bases(opts):
        check_basis(basis)
    if opts["std_of"] not in ("white", "band"):
        raise ConfigError(f"eval.band_noise.std_of must be 'white' or 'band', got '{opts['std_of']}'")
    n_draws = int(opts["n_draws"])
    if n_draws < 1:
        raise ConfigError(f"eval.band_noise.n_draws must be at least 1, got {n_draws}")
    edges = opts["edges"]
    if isinstance(edges, str) and edges != "paper":
        raise ConfigError(f"eval.band_noise.edges must be null, 'paper' or a list of radii, got '{edges}'")


@register_evaluation("band_noise", defaults=BAND_DEFAULTS, check=check_band_noise_options)
def evaluate_band_noise(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Accuracy drop (clean minus noisy) under band-limited Gaussian noise, per band and basis.

    Ma, Pan & Farahmand (TMLR 2023), Section 3, and their ``test_gaussian_LF_HF_v2``: white Gaussian
    noise of per-pixel variance ``variance`` is projected onto one radial band at a time and added to
    the test images (no clamping).  Options:

    * ``variance`` (null: the paper's value for the data set, :data:`BAND_NOISE_VARIANCE`);
    * ``bases`` (``dct`` -- the paper's; ``fft`` -- robustopt's addition);
    * ``edges``: null (``n_bands`` bands of equal size, robustopt's), ``paper`` (the authors' 10 DCT bands
      for 28, 32 or 224-px images: :func:`~robustopt.frequency.masks.paper_bands`), or a list of radii
      (bands ``e_{k-1} < r <= e_k``);
    * ``n_draws`` (averaged, with the standard error);
    * ``same_draw`` (true, the authors' procedure: one full white draw per batch projected onto every band;
      false, robustopt's faster option: only each band's coefficients of a fresh white draw are drawn --
      the same distribution per band, since projections of white noise onto disjoint bands are
      independent, at about the cost of a clean pass);
    * ``clamp`` (false, as the authors: neither the noise nor the noisy images are clamped);
    * ``std_of`` (``white``: the variance is the white noise's, as the authors; ``band``: the band-limited
      noise's own per-pixel variance);
    * ``n_samples`` (first N test images).

    Returns ``clean_accuracy``, ``clean_correct``, the settings, and per basis ``{drop, drop_stderr,
    noisy_accuracy, noisy_correct, r_low, r_high, closed, counts}`` (lists over the bands, lowest first;
    band k holds the radii ``r_low < r <= r_high`` when ``closed`` is ``upper`` -- band 0 also radius 0 --
    and ``r_low <= r < r_high`` when it is ``lower``, the authors' rule, the last band then also holding
    ``r_high``; ``drop_stderr`` is None with one draw).
    """
    opts = evaluation_options("band_noise", cfg, data.dataset)
    variance = _band_variance(opts, data.dataset)
    bases = _band_bases(opts)
    n_draws = int(opts["n_draws"])
    edges = opts["edges"]
    data = data.subset(opts["n_samples"])
    h, w = data.x.shape[-2:]
    bands_of = {basis: _bands(h, w, basis, edges, int(opts["n_bands"])) for basis in bases}  # config errors first
    clean = _outcomes(model, data, ctx)
    result: dict = {
        "variance": variance,
        "std": math.sqrt(variance),
        "n": len(data),
        "n_draws": n_draws,
        "same_draw": bool(opts["same_draw"]),
        "clamp": bool(opts["clamp"]),
        "std_of": opts["std_of"],
        "edges": edges if edges is None or isinstance(edges, str) else [float(e) for e in edges],
        "clean_accuracy": clean.accuracy,
        "clean_correct": encode_mask(clean.correct),
    }
    rows = []
    for b, basis in enumerate(bases):
        bands = bands_of[basis]
        n_bands = len(bands)
        noisy = [[0.0] * n_draws for _ in range(n_bands)]
        noisy_correct = [""] * n_bands
        for d in range(n_draws):
            shared = _seed(ctx, _band_offset(b, d))
            for k in range(n_bands):
                seed = shared if opts["same_draw"] else _seed(ctx, _band_offset(b, d, k))
                std = math.sqrt(variance)
                if opts["std_of"] == "band":
                    std *= math.sqrt(h * w / bands.counts[k])
                sample = _band_noise_sampler(bands, k, std, ctx.device, bool(opts["same_draw"]))
                res = _noisy_outcomes(model, data, ctx, seed, sample, bool(opts["clamp"]))
                noisy[k][d] = res.accuracy
                if d == 0:
                    noisy_correct[k] = encode_mask(res.correct)
        drops = [[clean.accuracy - a for a in per_band] for per_band in noisy]
        result[basis] = {
            "drop": [_mean(v) for v in drops],
            "drop_stderr": [_stderr(v) for v in drops],
            "noisy_accuracy": [_mean(v) for v in noisy],
            "noisy_correct": noisy_correct,
            "r_low": [max(r, 0.0) for r in bands.r_low],
            "r_high": list(bands.r_high),
            "closed": bands.closed,
            "counts": bands.counts,
        }
        rb = result[basis]
        for k in range(n_bands):
            rows.append(
                [
                    basis,
                    k,
                    rb["r_low"][k],
                    rb["r_high"][k],
                    rb["counts"][k],
                    clean.accuracy,
                    rb["noisy_accuracy"][k],
                    rb["drop"][k],
                    rb["drop_stderr"][k],
                ]
            )
    if ctx.tracker is not None:
        ctx.tracker.log_table(
            "band_noise",
            [
                "basis",
                "band",
                "r_low",
                "r_high",
                "coefficients",
                "clean_accuracy",
                "noisy_accuracy",
                "drop",
                "drop_stderr",
            ],
            rows,
        )
        ctx.tracker.log_figure("band_noise", _band_noise_figure(result, bases))
    return result


def _band_noise_figure(result: dict, bases: list[str]):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3.2))
    ax = fig.subplots()
    for basis in bases:
        drop = result[basis]["drop"]
        err = [e or 0.0 for e in result[basis]["drop_stderr"]]
        ax.errorbar(range(len(drop)), drop, yerr=err, marker="o", capsize=2, label=basis.upper())
    ax.set_xlabel("band (low to high frequency)")
    ax.set_ylabel("accuracy drop")
    ax.set_title(f"band-limited noise, variance {result['variance']:g}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    return fig


HEATMAP_DEFAULTS = {"eps": 4.0, "stride": 2, "n_samples": 1000, "clamp": True}


def check_fourier_heatmap_options(opts: dict, dataset: str) -> None:
    """The registered check of ``fourier_heatmap``'s option values (merged with :data:`HEATMAP_DEFAULTS`)."""
    if float(opts["eps"]) < 0:
        raise ConfigError(f"eval.fourier_heatmap.eps must be non-negative, got {opts['eps']}")


@register_evaluation("fourier_heatmap", defaults=HEATMAP_DEFAULTS, check=check_fourier_heatmap_options)
def evaluate_fourier_heatmap(model, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Fourier heat map (Yin et al., "A Fourier perspective on model robustness", NeurIPS 2019).

    Error rate under ``x + r * eps * U_f`` (clipped to [0, 1]) for every Fourier basis image ``U_f``
    (unit L2 norm, random sign ``r`` per image and channel) on a grid of every ``stride``-th
    frequency.  Options: ``eps`` (Yin et al.: 4 on CIFAR-10), ``stride``, ``n_samples``, ``clamp``.
    The map (rows = vertical, columns = horizontal centred frequencies) is logged as an image.
    """
    opts = evaluation_options("fourier_heatmap", cfg, data.dataset)
    data = data.subset(opts["n_samples"])
    res = fourier_heatmap(
        model,
        data.x,
        data.y,
        eps=float(opts["eps"]),
        stride=int(opts["stride"]),
        batch_size=ctx.batch_size,
        device=ctx.device,
        generator=ctx.generator(0),
        clamp=bool(opts["clamp"]),
    )
    result = {
        "error": res["error"].tolist(),
        "rows": res["rows"],
        "cols": res["cols"],
        "clean_error": res["clean_error"],
        "eps": float(opts["eps"]),
        "stride": int(opts["stride"]),
        "n": len(data),
    }
    if ctx.tracker is not None:
        ctx.tracker.log_figure(
            "fourier_heatmap",
            heatmap_figure(
                res["error"], res["rows"], res["cols"], title=f"Fourier heat map, eps={float(opts['eps']):g}"
            ),
        )
    return result
