"""Tests of the gaussian_noise, band_noise and fourier_heatmap evaluations.

The key check: a model that sees only low frequencies (an exact low-pass projection, built here
from scipy / numpy, in front of a CNN) is exactly unaffected by noise in the higher bands and by
Fourier perturbations above its cut-off.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft as sfft
import torch
from torch import nn

from robustopt.errors import ConfigError
from robustopt.evaluation.noise import (
    BAND_NOISE_VARIANCE,
    GAUSSIAN_VARIANCES,
    evaluate_band_noise,
    evaluate_fourier_heatmap,
    evaluate_gaussian_noise,
)
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData
from robustopt.models import build_model

H = W = 16
CUTOFF = 6.0  # radius of the low-pass in front of the model = upper edge of band 0


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see tests/conftest.py


class DctLowPass(nn.Module):
    """x -> D^T (M * (D x D^T)) D with scipy's DCT matrix and a numpy radius mask (r <= CUTOFF)."""

    def __init__(self):
        super().__init__()
        d = sfft.dct(np.eye(H), norm="ortho", axis=0)
        r = np.sqrt(np.arange(H)[:, None] ** 2 + np.arange(W)[None, :] ** 2)
        self.register_buffer("d", torch.tensor(d, dtype=torch.float32))
        self.register_buffer("m", torch.tensor(r <= CUTOFF, dtype=torch.float32))

    def forward(self, x):
        return self.d.T @ ((self.d @ x @ self.d.T) * self.m) @ self.d


class FftLowPass(nn.Module):
    """x -> real(ifft2(M * fft2(x))) with M from numpy's integer frequencies (|f| <= CUTOFF)."""

    def __init__(self):
        super().__init__()
        f = np.round(np.fft.fftfreq(H) * H)
        self.register_buffer("m", torch.tensor(np.sqrt(f[:, None] ** 2 + f[None, :] ** 2) <= CUTOFF))

    def forward(self, x):
        return torch.fft.ifft2(torch.fft.fft2(x) * self.m).real


class Recorder(nn.Module):
    """Records its inputs, returns constant logits."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return torch.zeros(x.shape[0], 10) + self.w


class FakeTracker:
    def __init__(self):
        self.tables, self.figures = {}, {}

    def log_table(self, key, columns, rows):
        self.tables[key] = (list(columns), [list(r) for r in rows])

    def log_figure(self, key, fig):
        self.figures[key] = fig


def low_pass_model(basis: str):
    torch.manual_seed(0)
    net = build_model("c2", 1, 10, H)
    return nn.Sequential(DctLowPass() if basis == "dct" else FftLowPass(), net).eval()


def labelled_by(model, n=96):
    x = torch.rand(n, 1, H, W, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    return EvalData(x, y, "synthetic")  # clean accuracy is 1 by construction


@pytest.mark.parametrize("basis", ["dct", "fft"])
def test_low_pass_model_is_exactly_unaffected_by_high_band_noise(basis):
    model = low_pass_model(basis)
    data = labelled_by(model)
    edges = [CUTOFF, 8.0, 10.0]
    cfg = {"variance": 4.0, "bases": [basis], "edges": edges, "clamp": False}
    res = evaluate_band_noise(model, data, cfg, EvalContext(batch_size=40))
    drop = res[basis]["drop"]
    assert res["clean_accuracy"] == 1.0 and len(drop) == 4
    assert drop[1:] == [0.0, 0.0, 0.0]  # noise above the cut-off never reaches the CNN
    assert drop[0] > 0.2  # while low-band noise does


def test_fourier_heatmap_of_a_low_pass_model_is_flat_above_the_cutoff():
    model = low_pass_model("fft")
    data = labelled_by(model, 64)
    tracker = FakeTracker()
    cfg = {"eps": 30.0, "stride": 4, "n_samples": None, "clamp": False}
    res = evaluate_fourier_heatmap(model, data, cfg, EvalContext(batch_size=64, tracker=tracker))
    assert res["rows"] == res["cols"] == [-8, -4, 0, 4]
    err = np.array(res["error"])
    assert err.shape == (4, 4) and res["clean_error"] == 0.0
    f = np.array(res["rows"])
    radius = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    assert (err[radius > CUTOFF] == 0.0).all()
    assert err[radius <= CUTOFF].max() > 0.2
    # U_f and U_-f are the same image: (4, -4) and (-4, 4) agree
    assert err[3, 1] == err[1, 3]
    assert "fourier_heatmap" in tracker.figures


@pytest.mark.parametrize("same_draw", [False, True])
def test_band_noise_perturbation_has_the_paper_statistics(same_draw):
    rec = Recorder()
    x = torch.full((200, 3, H, W), 0.5)
    data = EvalData(x, torch.zeros(200, dtype=torch.long), "cifar10")  # paper variance 0.01
    tracker = FakeTracker()
    res = evaluate_band_noise(rec, data, {"n_bands": 4, "n_draws": 2, "same_draw": same_draw}, EvalContext(batch_size=100, tracker=tracker))
    assert res["variance"] == BAND_NOISE_VARIANCE["cifar10"] == 0.01
    # inputs: 2 clean batches, then per basis 2 draws x 4 bands x 2 batches
    noisy = rec.inputs[2:]
    assert len(noisy) == 2 * 2 * 4 * 2
    per_pass = [torch.cat(noisy[i : i + 2]) - 0.5 for i in range(0, len(noisy), 2)]
    for p, basis in enumerate(["dct", "fft"]):
        counts = res[basis]["counts"]
        assert sum(counts) == H * W and len(res[basis]["drop"]) == 4
        assert res[basis]["drop_stderr"] == [0.0] * 4  # a constant model never changes its answer
        for d in range(2):
            for k in range(4):
                n = per_pass[p * 8 + d * 4 + k].double().numpy()
                mask = np.zeros((4, H, W), bool)
                r = np.sqrt(np.arange(H)[:, None] ** 2 + np.arange(W)[None, :] ** 2)
                if basis == "fft":
                    f = np.fft.fftshift(np.round(np.fft.fftfreq(H) * H))
                    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
                lo, hi = res[basis]["r_low"][k], res[basis]["r_high"][k]
                mask = (r > lo) & (r <= hi) if k else r <= hi
                coef = (sfft.dctn(n, axes=(-2, -1), norm="ortho") if basis == "dct"
                        else np.fft.fftshift(np.fft.fft2(n, norm="ortho"), axes=(-2, -1)))
                energy = np.abs(coef) ** 2
                assert energy[..., ~mask].sum() < 1e-6 * energy.sum()
                assert n.var() == pytest.approx(0.01 * counts[k] / (H * W), rel=0.1)
    if same_draw:  # the bands of one draw are projections of one white draw: they add up to it
        for p in range(2):
            white = sum(per_pass[p * 8 + k] for k in range(4)).double()
            assert white.var().item() == pytest.approx(0.01, rel=0.05)
            assert abs(white.mean().item()) < 0.003
            assert (white.flatten(1).std(1) > 0.05).all()
    columns, rows = tracker.tables["band_noise"]
    assert columns[:2] == ["basis", "band"] and len(rows) == 8
    assert "band_noise" in tracker.figures


def test_gaussian_noise_defaults_statistics_and_determinism():
    rec = Recorder()
    x = torch.full((64, 1, H, W), 0.5)
    data = EvalData(x, torch.zeros(64, dtype=torch.long), "fashion_mnist")
    state = torch.random.get_rng_state()
    res = evaluate_gaussian_noise(rec, data, {"clamp": False}, EvalContext(batch_size=64, seed=3))
    assert torch.equal(state, torch.random.get_rng_state())
    assert res["variances"] == list(GAUSSIAN_VARIANCES["fashion_mnist"]) == [0.001, 0.005, 0.01]
    noisy = rec.inputs[1:]
    for var, n in zip(res["variances"], noisy):
        assert (n - 0.5).double().std().item() == pytest.approx(math.sqrt(var), rel=0.05)
    # the same seed gives the same noise; another seed another
    rec.inputs.clear()
    evaluate_gaussian_noise(rec, data, {"clamp": False}, EvalContext(batch_size=64, seed=3))
    assert torch.equal(rec.inputs[1], noisy[0])
    rec.inputs.clear()
    evaluate_gaussian_noise(rec, data, {"clamp": False}, EvalContext(batch_size=64, seed=4))
    assert not torch.equal(rec.inputs[1], noisy[0])
    # clamping keeps the images in [0, 1]
    rec.inputs.clear()
    evaluate_gaussian_noise(rec, data, {"variances": [1.0]}, EvalContext(batch_size=64))
    assert rec.inputs[1].min() >= 0 and rec.inputs[1].max() <= 1 and rec.inputs[1].std() > 0.3


def test_gaussian_noise_accuracy_on_a_real_model():
    torch.manual_seed(0)
    model = build_model("c2", 1, 10, H).eval()
    data = labelled_by(model, 128)
    tracker = FakeTracker()
    res = evaluate_gaussian_noise(
        model, data, {"variances": [0.0, 100.0], "n_draws": 2}, EvalContext(batch_size=50, tracker=tracker)
    )
    assert res["accuracy"][0] == 1.0 and res["accuracy_stderr"][0] == 0.0  # no noise: clean accuracy
    assert res["accuracy"][1] < 1.0  # heavy noise changes some answers
    assert res["clean_accuracy"] == 1.0 and res["n_draws"] == 2
    assert tracker.tables["gaussian_noise"][0][0] == "variance"


def test_config_errors():
    model = Recorder()
    data = EvalData(torch.rand(4, 1, 8, 8), torch.zeros(4, dtype=torch.long), "my_dataset")
    ctx = EvalContext()
    with pytest.raises(ConfigError, match="set eval.gaussian_noise.variances"):
        evaluate_gaussian_noise(model, data, {}, ctx)
    with pytest.raises(ConfigError, match="set eval.band_noise.variance"):
        evaluate_band_noise(model, data, {}, ctx)
    with pytest.raises(ConfigError, match="no option"):
        evaluate_band_noise(model, data, {"varience": 0.1}, ctx)
    with pytest.raises(ConfigError, match="unknown frequency basis"):
        evaluate_band_noise(model, data, {"variance": 0.1, "bases": ["wavelet"]}, ctx)
    with pytest.raises(ConfigError, match="stride"):
        evaluate_fourier_heatmap(model, data, {"stride": 0}, ctx)


def test_evaluations_are_registered():
    for name, fn in [("gaussian_noise", evaluate_gaussian_noise), ("band_noise", evaluate_band_noise),
                     ("fourier_heatmap", evaluate_fourier_heatmap)]:
        assert EVALUATIONS._entries[name] is fn


def test_paper_defaults_cover_every_data_set():
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette", "synthetic"):
        assert len(GAUSSIAN_VARIANCES[name]) == 3 and BAND_NOISE_VARIANCE[name] > 0
    assert GAUSSIAN_VARIANCES["svhn"] == (0.001, 0.003, 0.005)
    assert BAND_NOISE_VARIANCE["caltech101"] == 0.2 and BAND_NOISE_VARIANCE["imagenette"] == 0.01
