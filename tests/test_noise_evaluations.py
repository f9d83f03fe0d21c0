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


@pytest.mark.parametrize("same_draw", [True, False])
@pytest.mark.parametrize("basis", ["dct", "fft"])
def test_low_pass_model_is_exactly_unaffected_by_high_band_noise(basis, same_draw):
    model = low_pass_model(basis)
    data = labelled_by(model)
    edges = [CUTOFF, 8.0, 10.0]
    cfg = {"variance": 4.0, "bases": [basis], "edges": edges, "clamp": False, "same_draw": same_draw}
    res = evaluate_band_noise(model, data, cfg, EvalContext(batch_size=40))
    drop = res[basis]["drop"]
    assert res["clean_accuracy"] == 1.0 and len(drop) == 4
    assert drop[1:] == [0.0, 0.0, 0.0]  # noise above the cut-off never reaches the CNN
    assert drop[0] > 0.1  # while low-band noise does (0.15 to 0.3 here)


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
    res = evaluate_band_noise(
        rec, data, {"n_bands": 4, "n_draws": 2, "same_draw": same_draw}, EvalContext(batch_size=100, tracker=tracker)
    )
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
                coef = (
                    sfft.dctn(n, axes=(-2, -1), norm="ortho")
                    if basis == "dct"
                    else np.fft.fftshift(np.fft.fft2(n, norm="ortho"), axes=(-2, -1))
                )
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
    with pytest.raises(ConfigError, match="null, 'paper' or a list"):
        evaluate_band_noise(model, data, {"variance": 0.1, "edges": "authors"}, ctx)
    with pytest.raises(ConfigError, match="8x8"):  # the authors' radii exist for 28, 32 and 224 px only
        evaluate_band_noise(model, data, {"variance": 0.1, "bases": ["dct"], "edges": "paper"}, ctx)
    with pytest.raises(ConfigError, match="DCT basis only"):
        evaluate_band_noise(
            model,
            EvalData(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)),
            {"variance": 0.1, "bases": ["dct", "fft"], "edges": "paper"},
            ctx,
        )
    assert model.inputs == []  # config errors come before any pass over the data


def test_evaluations_are_registered():
    for name, fn in [
        ("gaussian_noise", evaluate_gaussian_noise),
        ("band_noise", evaluate_band_noise),
        ("fourier_heatmap", evaluate_fourier_heatmap),
    ]:
        assert EVALUATIONS._entries[name] is fn


def test_paper_defaults_cover_every_data_set():
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette", "synthetic"):
        assert len(GAUSSIAN_VARIANCES[name]) == 3 and BAND_NOISE_VARIANCE[name] > 0
    assert GAUSSIAN_VARIANCES["svhn"] == (0.001, 0.003, 0.005)
    assert BAND_NOISE_VARIANCE["caltech101"] == 0.2 and BAND_NOISE_VARIANCE["imagenette"] == 0.01


# ----------------------------------------------------------------------------- the authors' band noise


def authors_getDCTmatrix(size):
    """freq-robust src/utils_freq.py getDCTmatrix (the formula branch; their saved 28/32/224.pt equal it to 2e-8)."""
    dct_matrix = torch.zeros([size, size])
    for i in range(0, size):
        for j in range(0, size):
            if j == 0:
                dct_matrix[i, j] = np.sqrt(1 / size) * np.cos(np.pi * (2 * i + 1) * j / 2 / size)
            else:
                dct_matrix[i, j] = np.sqrt(2 / size) * np.cos(np.pi * (2 * i + 1) * j / 2 / size)
    return dct_matrix


def authors_batch_dct2_3channel(input_tensor, dct_matrix):
    """freq-robust src/utils_freq.py batch_dct2_3channel, verbatim."""
    assert len(input_tensor.shape) == 4 and input_tensor.shape[1] == 3
    batch_size = input_tensor.shape[0]
    dct2_output = torch.zeros_like(input_tensor, device=input_tensor.device)
    d = input_tensor.shape[2]
    dct_matrix = dct_matrix.to(input_tensor.device).expand(batch_size, -1, -1)
    for i in range(3):
        dct2_output[:, i, :, :] = torch.bmm(
            torch.bmm(dct_matrix.transpose(1, 2), input_tensor[:, i, :, :].view(batch_size, d, d)), dct_matrix
        )
    return dct2_output


def authors_batch_idct2_3channel(input_tensor, dct_matrix):
    """freq-robust src/utils_freq.py batch_idct2_3channel, verbatim."""
    assert len(input_tensor.shape) == 4 and input_tensor.shape[1] == 3
    batch_size = input_tensor.shape[0]
    idct2_output = torch.zeros_like(input_tensor, device=input_tensor.device)
    d = input_tensor.shape[2]
    idct_matrix = torch.inverse(dct_matrix).to(input_tensor.device).expand(batch_size, -1, -1)
    for i in range(3):
        idct2_output[:, i, :, :] = torch.bmm(
            torch.bmm(idct_matrix.transpose(1, 2), input_tensor[:, i, :, :].view(batch_size, d, d)), idct_matrix
        )
    return idct2_output


def authors_band_mask(size, r_list):
    """freq-robust src/utils_freq.py mask_radial_multiple_radius, verbatim (band index of every coefficient)."""
    mask = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            flag = False
            for k, r in enumerate(r_list):
                if np.sqrt((i) ** 2 + (j) ** 2) < r:
                    mask[i, j] = k
                    flag = True
                    break
            if not flag:
                mask[i, j] = len(r_list)
    return mask


CIFAR_R_LIST = [
    10.781431922956449,
    15.301968130724937,
    19.04982421996594,
    22.040185695902814,
    24.75901837969084,
    27.220978213474407,
    29.441362859363448,
    31.57831841836015,
    34.71337554275011,
]  # eval_AA_cluster.py


def test_paper_band_noise_is_the_authors_test_gaussian_LF_HF_v2():
    """The paper preset's band noise, batch by batch, against a transcription of the authors' procedure:
    ``_noise = sqrt(var) randn_like(x)`` once per batch, then for every band k
    ``idct(dct(_noise) * (mask == k))`` with their DCT matrix and band mask, added without clamping."""
    rec = Recorder()
    n, bs = 12, 6
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 0.05  # near 0: clamping would show
    data = EvalData(x, torch.zeros(n, dtype=torch.long), "cifar10")
    cfg = {"bases": ["dct"], "edges": "paper", "same_draw": True, "clamp": False, "std_of": "white", "variance": None}
    res = evaluate_band_noise(rec, data, cfg, EvalContext(batch_size=bs))
    assert res["variance"] == 0.01 and res["dct"]["closed"] == "lower" and res["edges"] == "paper"
    noisy = rec.inputs[n // bs :]  # after the clean pass: 10 bands x 2 batches
    assert len(noisy) == 10 * 2
    mask = torch.tensor(authors_band_mask(32, CIFAR_R_LIST), dtype=torch.float32)
    dct_matrix = authors_getDCTmatrix(32)
    assert res["dct"]["counts"] == [int((mask == k).sum()) for k in range(10)]
    for b in range(2):
        xb = x[b * bs : (b + 1) * bs]
        noise = [noisy[k * 2 + b] - xb for k in range(10)]
        white = sum(noise)  # one white draw shared by every band: the bands add up to it
        assert white.double().var().item() == pytest.approx(0.01, rel=0.1)
        noise_dct = authors_batch_dct2_3channel(white, dct_matrix)
        for k in range(10):
            expected = authors_batch_idct2_3channel(noise_dct * (mask.expand_as(white) == k), dct_matrix)
            assert (noise[k] - expected).abs().max().item() < 2e-5
        assert min(t.min().item() for t in noisy[b::2]) < -0.01  # not clamped


class MeanThreshold(nn.Module):
    """Class 1 when an image's mean pixel exceeds 0.5, else class 0; records its inputs."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.inputs = []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        m = x.flatten(1).mean(1) - 0.5
        return torch.stack([-m, m], 1) * 100 + self.w


def decoded(s):
    from robustopt.bits import decode_mask

    return decode_mask(s)


def test_per_image_masks_of_gaussian_noise_are_the_outcomes_image_by_image():
    n, bs = 40, 16
    x = 0.5 + 0.02 * torch.randn(n, 1, H, W, generator=torch.Generator().manual_seed(2))  # means close to 0.5
    y = (x.flatten(1).mean(1) > 0.5).long()
    y[:5] = 1 - y[:5]  # five clean mistakes
    model = MeanThreshold()
    data = EvalData(x, y, "fashion_mnist")
    res = evaluate_gaussian_noise(
        model, data, {"variances": [0.0, 0.01], "n_draws": 2, "clamp": False}, EvalContext(batch_size=bs)
    )
    clean = decoded(res["clean_correct"])
    np.testing.assert_array_equal(clean, np.arange(n) >= 5)
    inputs = torch.cat(model.inputs)  # clean, then (draw 0: var 0, var 0.01), (draw 1: ...), each n images
    assert inputs.shape[0] == n * 5 and len(res["correct"]) == 2
    for i in range(2):
        seen = inputs[n * (1 + i) : n * (2 + i)]  # the first draw's pass of variance i
        expected = ((seen.flatten(1).mean(1) > 0.5).long() == y).numpy()
        got = decoded(res["correct"][i])
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(decoded(res["correct"][0]), clean)  # no noise: the clean outcomes
    assert 0 < (decoded(res["correct"][1]) != clean).sum() < n  # the noise changes some answers


def test_per_image_masks_of_band_noise_are_the_outcomes_image_by_image():
    n, bs = 30, 16
    x = 0.5 + 0.02 * torch.randn(n, 1, H, W, generator=torch.Generator().manual_seed(4))
    y = (x.flatten(1).mean(1) > 0.5).long()
    model = MeanThreshold()
    data = EvalData(x, y, "synthetic")
    res = evaluate_band_noise(
        model, data, {"variance": 0.05, "bases": ["dct"], "n_bands": 3}, EvalContext(batch_size=bs)
    )
    assert decoded(res["clean_correct"]).all() and len(decoded(res["clean_correct"])) == n
    inputs = torch.cat(model.inputs)[n:]  # after the clean pass: band 0, 1, 2
    masks = [decoded(s) for s in res["dct"]["noisy_correct"]]
    assert len(masks) == 3
    for k in range(3):
        seen = inputs[k * n : (k + 1) * n]
        np.testing.assert_array_equal(masks[k], ((seen.flatten(1).mean(1) > 0.5).long() == y).numpy())
        assert masks[k].mean() == pytest.approx(res["dct"]["noisy_accuracy"][k])
    assert not masks[0].all()  # band 0 holds the DC coefficient, which moves the mean
    assert masks[1].all() and masks[2].all()  # higher bands have zero mean in every image: the mean never moves


def test_paper_presets_ask_for_the_authors_noise_evaluations():
    from pathlib import Path

    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[1] / "conf" / "experiment"
    for name in ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "caltech101", "imagenette"):
        ev = OmegaConf.to_container(OmegaConf.load(conf / f"paper_{name}.yaml"))["eval"]
        band = ev["band_noise"]
        assert band["variance"] == BAND_NOISE_VARIANCE[name]  # eval_AA_cluster.py: var per data set
        assert band["bases"] == ["dct"] and band["edges"] == "paper" and band["same_draw"] is True
        assert band["clamp"] is False and band["std_of"] == "white" and band["n_samples"] is None
        gauss = ev["gaussian_noise"]
        assert gauss["variances"] is None and gauss["clamp"] is True and gauss["n_samples"] is None
