"""Tests of robustopt.frequency: bases, masks, band-limited noise, filters, Fourier basis images.

Every numerical check compares against an independent computation (scipy / numpy transforms,
radii counted with numpy, sorting done in numpy), never against the module's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft
import torch

from robustopt.errors import ConfigError
from robustopt.frequency import (
    FILTERS,
    PAPER_DCT32_EDGES,
    PAPER_DCT_RADII,
    band_limited_noise,
    band_masks,
    bands_from_edges,
    dct2,
    dct_matrix,
    fourier_basis_image,
    from_frequency,
    heatmap_frequencies,
    high_pass_mask,
    idct2,
    low_pass_mask,
    paper_bands,
    radial_mask,
    remove_high_frequency,
    remove_low_energy,
    to_frequency,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see tests/conftest.py


def np_radius(h: int, w: int, basis: str) -> np.ndarray:
    """Radii computed independently: DC corner for dct, centred integer frequencies for fft."""
    if basis == "dct":
        fy, fx = np.arange(h), np.arange(w)
    else:
        fy = np.fft.fftshift(np.round(np.fft.fftfreq(h) * h))
        fx = np.fft.fftshift(np.round(np.fft.fftfreq(w) * w))
    return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def np_band_energy_fraction(noise: np.ndarray, mask: np.ndarray, basis: str) -> float:
    """Fraction of the noise's energy outside ``mask`` (scipy / numpy transforms)."""
    if basis == "dct":
        coef = sfft.dctn(noise, axes=(-2, -1), norm="ortho")
    else:
        coef = np.fft.fftshift(np.fft.fft2(noise, norm="ortho"), axes=(-2, -1))
    energy = np.abs(coef) ** 2
    return float(energy[..., ~mask].sum() / energy.sum())


# ----------------------------------------------------------------------------- bases


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (4, 1, 28, 28), (1, 2, 7, 5), (3, 1, 6)])
@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_dct_matches_scipy_and_round_trips(shape, method):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    ref = sfft.dctn(x.double().numpy(), axes=(-2, -1), norm="ortho")
    coef = dct2(x, method=method)
    assert coef.dtype == torch.float32
    np.testing.assert_allclose(coef.double().numpy(), ref, atol=1e-5, rtol=0)
    back = idct2(coef, method=method)
    assert (back - x).abs().max().item() < 1e-5
    # the inverse alone against scipy's inverse
    np.testing.assert_allclose(
        idct2(torch.from_numpy(ref).float(), method=method).double().numpy(), x.double().numpy(), atol=1e-5, rtol=0
    )


def test_dct_matrix_is_scipy_dct_of_identity():
    for n in (1, 5, 32):
        ref = sfft.dct(np.eye(n), norm="ortho", axis=0)
        np.testing.assert_allclose(dct_matrix(n, dtype=torch.float64).numpy(), ref, atol=1e-12)


def test_fft_basis_is_centred_orthonormal_spectrum_and_round_trips():
    x = torch.rand(2, 3, 9, 8, generator=torch.Generator().manual_seed(1))
    ref = np.fft.fftshift(np.fft.fft2(x.double().numpy(), norm="ortho"), axes=(-2, -1))
    spec = to_frequency(x, "fft")
    np.testing.assert_allclose(spec.numpy(), ref, atol=1e-5)
    assert abs(spec[..., 9 // 2, 8 // 2] - x.sum((-2, -1)) / np.sqrt(72)).max() < 1e-5  # DC in the middle
    for basis in ("fft", "dct"):
        back = from_frequency(to_frequency(x, basis), basis)
        assert back.dtype == torch.float32 and (back - x).abs().max().item() < 1e-5


def test_unknown_basis_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown frequency basis"):
        to_frequency(torch.zeros(1, 4, 4), "wavelet")


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize(
    "h,w,n_bands,basis",
    [(32, 32, 10, "dct"), (32, 32, 10, "fft"), (28, 28, 10, "dct"), (28, 28, 7, "fft"), (9, 6, 4, "fft")],
)
def test_band_masks_partition_ordered_and_as_equal_as_shells_allow(h, w, n_bands, basis):
    bands = band_masks(h, w, n_bands, basis)
    masks = bands.masks.numpy()
    assert masks.shape == (n_bands, h, w) and masks.dtype == bool
    np.testing.assert_array_equal(masks.sum(0), np.ones((h, w)))  # disjoint, union is everything
    r = np_radius(h, w, basis)
    for k in range(n_bands - 1):  # every radius of band k below every radius of band k + 1
        assert r[masks[k]].max() < r[masks[k + 1]].min()
    # whole shells: a radius is never split between bands
    for k in range(n_bands):
        inside = r[masks[k]]
        assert not np.isin(np.round(r[~masks[k]], 9), np.round(inside, 9)).any()
    # each boundary's cumulative count is the achievable one nearest to k * N / n
    achievable = np.array([(r <= v + 1e-9).sum() for v in np.unique(np.round(r, 9))])
    cum = np.cumsum(masks.reshape(n_bands, -1).sum(1))
    for k in range(n_bands - 1):
        target = (k + 1) * h * w / n_bands
        assert abs(cum[k] - target) == pytest.approx(np.abs(achievable - target).min())
    assert bands.counts == list(masks.reshape(n_bands, -1).sum(1))


# The authors' radii, transcribed from freq-robust eval_AA_cluster.py (r_list per data set), independently of
# robustopt.frequency.masks.PAPER_DCT_RADII.
AUTHORS_R_LIST = {
    28: [
        9.23556484576784,
        13.429772309525275,
        16.573100530176493,
        19.246660078812468,
        21.650519659173664,
        23.770439869682388,
        25.719176010665375,
        27.52522654685313,
        30.425587675884607,
    ],
    32: [
        10.781431922956449,
        15.301968130724937,
        19.04982421996594,
        22.040185695902814,
        24.75901837969084,
        27.220978213474407,
        29.441362859363448,
        31.57831841836015,
        34.71337554275011,
    ],
    224: [
        79.99591867969022,
        113.48107898359288,
        138.12383764880263,
        159.77959526368392,
        178.8104125616099,
        195.53446412645394,
        211.45609907581306,
        226.35093083884985,
        250.1009872575449,
    ],
}


def authors_distance_from_top_left(i, j):
    """freq-robust src/utils_freq.py distance_from_top_left, verbatim."""
    dis = np.sqrt((i) ** 2 + (j) ** 2)
    return dis


def authors_mask_radial_multiple_radius(size, r_list):
    """freq-robust src/utils_freq.py mask_radial_multiple_radius, verbatim: the band index of every coefficient."""
    mask = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            flag = False
            for k, r in enumerate(r_list):
                if authors_distance_from_top_left(i, j) < r:
                    mask[i, j] = k
                    flag = True
                    break
            if not flag:
                mask[i, j] = len(r_list)
    return mask


@pytest.mark.parametrize("size", [28, 32, 224])
def test_paper_bands_are_the_authors_bands_coefficient_by_coefficient(size):
    assert list(PAPER_DCT_RADII[size]) == AUTHORS_R_LIST[size]  # full precision, not rounded
    authors = authors_mask_radial_multiple_radius(size, AUTHORS_R_LIST[size])
    bands = paper_bands(size)
    assert bands.masks.shape == (10, size, size) and bands.closed == "lower"
    np.testing.assert_array_equal(bands.masks.numpy().sum(0), 1)  # a partition
    np.testing.assert_array_equal(bands.masks.numpy().argmax(0), authors)  # every coefficient's band index
    assert bands.counts == [int((authors == k).sum()) for k in range(10)]
    np.testing.assert_array_equal(
        bands_from_edges(size, size, PAPER_DCT_RADII[size], closed="lower").masks.numpy().argmax(0), authors
    )


def test_paper_dct32_edges_keep_radius_sqrt_1205_in_band_8():
    """The radius sqrt(1205) = 34.7131 lies just below the authors' last edge 34.71338: band 8 (rounding the
    edge to 34.71 used to move its two coefficients, (23, 26) and (26, 23), to band 9)."""
    assert PAPER_DCT32_EDGES == PAPER_DCT_RADII[32]
    r2 = np.arange(32)[:, None] ** 2 + np.arange(32)[None, :] ** 2
    assert sorted(map(tuple, np.argwhere(r2 == 1205).tolist())) == [(23, 26), (26, 23)]
    for closed in ("lower", "upper"):
        band = bands_from_edges(32, 32, PAPER_DCT32_EDGES, closed=closed).masks.numpy().argmax(0)
        assert band[23, 26] == band[26, 23] == 8
    rounded = bands_from_edges(32, 32, [round(e, 2) for e in PAPER_DCT32_EDGES]).masks.numpy().argmax(0)
    assert rounded[23, 26] == 9  # what the rounded edges did


def test_lower_and_upper_closed_bands_differ_exactly_on_radii_equal_to_an_edge():
    r = np_radius(8, 8, "dct")
    upper = bands_from_edges(8, 8, [2.0, 5.0]).masks.numpy().argmax(0)
    lower = bands_from_edges(8, 8, [2.0, 5.0], closed="lower").masks.numpy().argmax(0)
    np.testing.assert_array_equal(upper, np.digitize(r, [2.0, 5.0], right=True))  # e_{k-1} < r <= e_k
    np.testing.assert_array_equal(lower, np.digitize(r, [2.0, 5.0], right=False))  # e_{k-1} <= r < e_k
    assert set(np.round(r[upper != lower], 9)) == {2.0, 5.0}


def test_paper_bands_errors():
    with pytest.raises(ConfigError, match="28x28, 32x32, 224x224"):
        paper_bands(16)
    with pytest.raises(ConfigError, match="DCT"):
        paper_bands(32, basis="fft")
    with pytest.raises(ConfigError, match="closed"):
        bands_from_edges(8, 8, [2.0], closed="both")


def test_equal_count_dct32_bands_are_close_to_the_papers():
    bands = band_masks(32, 32, 10, "dct")
    assert all(100 <= c <= 106 for c in bands.counts)
    np.testing.assert_allclose(bands.r_high[:-1], PAPER_DCT32_EDGES, atol=0.25)
    r = np_radius(32, 32, "dct")
    for k, mask in enumerate(bands.masks.numpy()):
        assert r[mask].max() == pytest.approx(bands.r_high[k])


def test_fft_masks_are_hermitian_symmetric_and_keep_noise_real():
    for h, w in [(32, 32), (28, 28), (9, 6)]:
        z = np.random.default_rng(0).standard_normal((h, w))
        for mask in band_masks(h, w, 5, "fft").masks.numpy():
            # independent mirror: frequency f at centred index f + h//2
            fy = np.arange(h) - h // 2
            fx = np.arange(w) - w // 2
            mirrored = mask[((-fy) + h // 2) % h][:, ((-fx) + w // 2) % w]
            np.testing.assert_array_equal(mask, mirrored)
            spec = np.fft.fftshift(np.fft.fft2(z)) * mask
            out = np.fft.ifft2(np.fft.ifftshift(spec))
            assert np.abs(out.imag).max() < 1e-12 * max(np.abs(out.real).max(), 1)


def test_low_high_pass_and_radial_masks():
    r = np_radius(32, 32, "dct")
    low = low_pass_mask(32, 32, keep_fraction=0.3).numpy()
    assert abs(low.mean() - 0.3) < 0.02 and r[low].max() < r[~low].min()
    high = high_pass_mask(32, 32, keep_fraction=0.3).numpy()
    assert abs(high.mean() - 0.3) < 0.02 and r[high].min() > r[~high].max()
    np.testing.assert_array_equal(low_pass_mask(32, 32, radius=10.0).numpy(), r <= 10.0)
    np.testing.assert_array_equal(high_pass_mask(32, 32, radius=10.0).numpy(), r > 10.0)
    np.testing.assert_array_equal(
        radial_mask(32, 32, 5.0, 9.0, "fft").numpy(), (np_radius(32, 32, "fft") > 5) & (np_radius(32, 32, "fft") <= 9)
    )
    with pytest.raises(ConfigError):
        low_pass_mask(8, 8, keep_fraction=0.0)
    with pytest.raises(ConfigError):
        band_masks(4, 4, 50)
    with pytest.raises(ConfigError):
        bands_from_edges(8, 8, [3.0, 2.0])


# ----------------------------------------------------------------------------- noise


@pytest.mark.parametrize("basis", ["dct", "fft"])
def test_band_limited_noise_lies_in_its_band_is_real_and_has_the_requested_std(basis):
    h = w = 32
    bands = band_masks(h, w, 10, basis)
    shape = (64, 3, h, w)
    for k in (0, 4, 9):
        gen = torch.Generator().manual_seed(k)
        noise = band_limited_noise(shape, k, 0.5, basis, gen)
        assert noise.shape == shape and noise.dtype == torch.float32 and not noise.is_complex()
        assert np_band_energy_fraction(noise.double().numpy(), bands.masks[k].numpy(), basis) < 1e-6
        # projection of white N(0, 0.25): per-pixel variance 0.25 * |band| / (H W)
        expected = 0.25 * bands.counts[k] / (h * w)
        assert noise.double().var().item() == pytest.approx(expected, rel=0.05)
        own = band_limited_noise(shape, k, 0.5, basis, torch.Generator().manual_seed(k), std_of="band")
        assert own.double().std().item() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("basis", ["dct", "fft"])
def test_same_draw_over_all_bands_sums_to_the_white_noise(basis):
    white = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    total = sum(band_limited_noise(white.shape, k, 0.3, basis, white=white, n_bands=6) for k in range(6))
    assert (total - 0.3 * white).abs().max().item() < 1e-5


def dense_projector(mask: np.ndarray, basis: str) -> np.ndarray:
    """The orthogonal projector onto a band as a dense (HW, HW) matrix, from scipy / numpy transforms."""
    h, w = mask.shape
    if basis == "dct":
        t = np.kron(sfft.dct(np.eye(h), norm="ortho", axis=0), sfft.dct(np.eye(w), norm="ortho", axis=0))
    else:
        t = np.kron(np.fft.fft(np.eye(h), norm="ortho", axis=0), np.fft.fft(np.eye(w), norm="ortho", axis=0))
        mask = np.fft.ifftshift(mask)
    return (t.conj().T @ np.diag(mask.ravel().astype(float)) @ t).real


@pytest.mark.parametrize("basis", ["dct", "fft"])
@pytest.mark.parametrize("h,w", [(6, 5), (4, 6), (5, 5)])
def test_fresh_band_noise_has_the_covariance_of_projected_white_noise(basis, h, w):
    """Drawing only the band's coefficients must give the law of P z, z white: covariance std^2 P."""
    n = 20000
    for k, mask in enumerate(band_masks(h, w, 3, basis).masks):
        noise = band_limited_noise((n, 1, h, w), mask, 2.0, basis, torch.Generator().manual_seed(k))
        flat = noise.double().reshape(n, -1)
        cov = (flat.T @ flat / n).numpy()  # torch (one thread): a threaded BLAS crawls on a busy machine
        np.testing.assert_allclose(cov / 4.0, dense_projector(mask.numpy(), basis), atol=0.05)


def test_noise_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a = band_limited_noise((2, 1, 8, 8), 1, 0.1, "fft", torch.Generator().manual_seed(5), n_bands=3)
    b = band_limited_noise((2, 1, 8, 8), 1, 0.1, "fft", torch.Generator().manual_seed(5), n_bands=3)
    assert torch.equal(a, b)
    assert torch.equal(state, torch.random.get_rng_state())


def test_non_hermitian_fft_mask_and_bad_bands_are_config_errors():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[4, 5] = True  # f = (0, 1) without (0, -1)
    with pytest.raises(ConfigError, match="Hermitian"):
        band_limited_noise((1, 1, 8, 8), mask, 0.1, "fft", torch.Generator())
    band_limited_noise((1, 1, 8, 8), mask, 0.1, "dct", torch.Generator())  # fine for the real DCT
    with pytest.raises(ConfigError, match="band 10"):
        band_limited_noise((1, 1, 8, 8), 10, 0.1, "dct", torch.Generator())


# ----------------------------------------------------------------------------- filters


def test_remove_low_energy_keeps_exactly_the_top_coefficients():
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    assert torch.equal(remove_low_energy(x, 1.0), x)
    keep = 0.3
    out = remove_low_energy(x, keep)
    coef = sfft.dctn(x.double().numpy(), axes=(-2, -1), norm="ortho")
    out_coef = sfft.dctn(out.double().numpy(), axes=(-2, -1), norm="ortho")
    k = round(keep * 256)
    for i in range(5):
        energy = np.abs(coef[i]).mean(0).ravel()
        order = np.argsort(-energy, kind="stable")
        kept_idx, dropped_idx = order[:k], order[k:]
        oc = out_coef[i].reshape(3, -1)
        np.testing.assert_allclose(oc[:, kept_idx], coef[i].reshape(3, -1)[:, kept_idx], atol=1e-5)
        assert np.abs(oc[:, dropped_idx]).max() < 1e-5
        kept_energy = np.abs(oc).mean(0).sum()
        assert kept_energy == pytest.approx(np.sort(energy)[::-1][:k].sum(), rel=1e-5)


def test_remove_high_frequency_is_one_radial_low_pass():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(8))
    assert torch.equal(remove_high_frequency(x, 1.0), x)
    out = remove_high_frequency(x, 0.5)
    coef = sfft.dctn(x.double().numpy(), axes=(-2, -1), norm="ortho")
    out_coef = sfft.dctn(out.double().numpy(), axes=(-2, -1), norm="ortho")
    kept = np.abs(out_coef).max(axis=(0, 1)) > 1e-6
    r = np_radius(32, 32, "dct")
    assert abs(kept.mean() - 0.5) < 0.02 and r[kept].max() < r[~kept].min()
    np.testing.assert_allclose(out_coef[..., kept], coef[..., kept], atol=1e-5)


def test_filter_registry_and_errors():
    x = torch.rand(2, 1, 8, 8)
    assert FILTERS.get("high_frequency") is remove_high_frequency
    assert FILTERS.get("low_energy") is remove_low_energy
    for name in FILTERS.names():
        out = FILTERS.get(name)(x, keep_fraction=0.5)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert FILTERS.get(name)(x, keep_fraction=0.5, clamp=True).min() >= 0
        with pytest.raises(ConfigError, match="keep_fraction"):
            FILTERS.get(name)(x, keep_fraction=0.0)
    with pytest.raises(ConfigError, match="unknown data filter"):
        FILTERS.get("wavelet")


# ----------------------------------------------------------------------------- heat-map pieces


def test_fourier_basis_image_is_unit_norm_and_supported_on_plus_minus_f():
    for fy, fx in [(0, 0), (3, -5), (-16, 7), (16, 16)]:
        u = fourier_basis_image(32, 32, fy, fx, dtype=torch.float64).numpy()
        assert np.linalg.norm(u) == pytest.approx(1.0)
        spec = np.abs(np.fft.fft2(u))
        support = {tuple(i) for i in np.argwhere(spec > 1e-9)}
        assert support == {(fy % 32, fx % 32), ((-fy) % 32, (-fx) % 32)}
    rows, cols = heatmap_frequencies(28, 28, 7)
    assert rows == cols == [-14, -7, 0, 7]
