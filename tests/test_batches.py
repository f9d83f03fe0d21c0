"""The in-memory batch server and its on-device augmentation, checked against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustopt.data import TensorBatches, load_dataset
from robustopt.data.augment import random_crop, random_hflip, random_resized_boxes, random_resized_crop, resized_crop
from robustopt.errors import ConfigError


def _data(n=300, c=3, s=8):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8), torch.arange(n)


def test_each_epoch_is_a_permutation_fixed_by_data_seed():
    x, y = _data()
    a = TensorBatches(x, y, 64, data_seed=3)
    b = TensorBatches(x, y, 64, data_seed=3)
    c = TensorBatches(x, y, 64, data_seed=4)
    torch.manual_seed(123)  # the global RNG plays no part
    ya = torch.cat([yb for _, yb in a.epoch(0)])
    torch.manual_seed(999)
    yb_ = torch.cat([yb for _, yb in b.epoch(0)])
    assert torch.equal(ya, yb_)
    assert torch.equal(torch.sort(ya).values, y), "every sample exactly once"
    assert not torch.equal(ya, torch.cat([yb for _, yb in c.epoch(0)]))
    assert not torch.equal(ya, torch.cat([yb for _, yb in a.epoch(1)]))
    assert torch.equal(ya, a.order(0))


def test_batches_match_direct_indexing_and_scaling():
    x, y = _data()
    server = TensorBatches(x, y, 64, data_seed=1)
    order = server.order(0)
    xs = torch.cat([xb for xb, _ in server.epoch(0)])
    assert torch.equal(xs, x[order].float() / 255)
    assert [len(yb) for _, yb in server.epoch(0)] == [64, 64, 64, 64, 44]
    assert len(TensorBatches(x, y, 64, drop_last=True)) == 4


def test_large_sets_stay_uint8_and_give_the_same_batches(monkeypatch):
    import robustopt.data.batches as batches

    x, y = _data()
    small = TensorBatches(x, y, 50, data_seed=2, crop_padding=2, hflip=True)
    monkeypatch.setattr(batches, "FLOAT_CACHE_LIMIT_BYTES", 0)
    large = TensorBatches(x, y, 50, data_seed=2, crop_padding=2, hflip=True)
    assert large.x.dtype == torch.uint8 and small.x.dtype == torch.float32
    for (xa, ya), (xb, yb) in zip(small.epoch(5), large.epoch(5)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_random_crop_outputs_are_crops_of_the_padded_image():
    x = torch.rand(40, 2, 6, 6)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for n in range(40):
        windows = [
            (i, j) for i in range(5) for j in range(5) if torch.equal(out[n], padded[n, :, i : i + 6, j : j + 6])
        ]
        assert windows, f"image {n} is not a crop of its padded original"
        offsets.add(windows[0])
    assert len(offsets) > 5, "offsets must vary between images"


def test_random_hflip_flips_about_half():
    x = torch.rand(400, 1, 4, 5)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(out[n], x[n].flip(2)) for n in range(400)])
    kept = torch.tensor([torch.equal(out[n], x[n]) for n in range(400)])
    assert bool((flipped | kept).all())
    assert 150 < int(flipped.sum()) < 250


def test_batch_transform_runs_after_augmentation():
    x, y = _data(64, 1, 4)
    server = TensorBatches(x, y, 64, batch_transform=lambda b: b * 0 + 0.5)
    xb, _ = next(iter(server.epoch(0)))
    assert torch.all(xb == 0.5)


def test_load_dataset_caches_and_returns_pixels_in_unit_range(tmp_path):
    x, y = load_dataset("synthetic", tmp_path, "train")
    assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1 and x.shape[1:] == (1, 16, 16)
    assert y.dtype == torch.int64 and x.shape[0] == y.shape[0]


def test_cache_file_is_written_once_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    from robustopt.data import cache
    from robustopt.data.registry import DATASETS, DatasetSpec

    calls = []

    def reader(root, split, download):
        calls.append(split)
        return torch.full((3, 1, 2, 2), 7, dtype=torch.uint8), torch.tensor([0, 1, 0])

    DATASETS.register("tiny_test_set", DatasetSpec("tiny_test_set", 1, 2, 2, reader), overwrite=True)
    try:
        x1, _ = cache.load_split_uint8("tiny_test_set", tmp_path, "train")
        x2, _ = cache.load_split_uint8("tiny_test_set", tmp_path, "train")
        assert calls == ["train"] and torch.equal(x1, x2)
        path = cache.cache_path(tmp_path, "tiny_test_set", "train")
        path.write_bytes(b"garbage")
        x3, _ = cache.load_split_uint8("tiny_test_set", tmp_path, "train")
        assert calls == ["train", "train"] and torch.equal(x1, x3)
        assert torch.load(path, weights_only=True)["x"].shape == (3, 1, 2, 2)
    finally:
        DATASETS.unregister("tiny_test_set")


# ----------------------------------------------------------------------------- random resized crop


def torchvision_boxes(n, height, width, seed, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """``n`` boxes from torchvision's own sampler (it uses the global RNG: forked, so the caller's state is kept)."""
    from torchvision.transforms import RandomResizedCrop

    img = torch.zeros(1, height, width)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return np.array([RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(n)])


def box_statistics(boxes, height, width):
    top, left, h, w = np.asarray(boxes, dtype=np.float64).T
    return {
        "area": h * w / (height * width),
        "log_ratio": np.log(w / h),
        "top": top / (height - h + 1),
        "left": left / (width - w + 1),
    }


def test_random_resized_boxes_follow_torchvisions_sampling_rule():
    """Two-sample Kolmogorov-Smirnov tests of our boxes against torchvision's RandomResizedCrop.get_params on a
    256x256 image: area fraction, log aspect ratio and relative position.  Seeds are fixed (deterministic), and
    the same test rejects two plausible mistakes by a wide margin, so it cannot pass by accident."""
    from scipy import stats

    n, side = 20000, 256
    ref = box_statistics(torchvision_boxes(n, side, side, seed=0), side, side)
    ours_boxes = random_resized_boxes(n, side, side, torch.Generator().manual_seed(1)).numpy()
    ours = box_statistics(ours_boxes, side, side)
    for key in ref:
        assert stats.ks_2samp(ref[key], ours[key]).pvalue > 1e-3, key
    top, left, h, w = ours_boxes.T
    assert (h >= 1).all() and (w >= 1).all() and (top + h <= side).all() and (left + w <= side).all()
    assert (top >= 0).all() and (left >= 0).all()

    # power: a ratio uniform instead of log-uniform, or clipping the first try instead of retrying, is rejected
    g = torch.Generator().manual_seed(2)
    u = torch.rand(n, 10, 2, generator=g, dtype=torch.float64)
    area = side * side * (0.08 + 0.92 * u[..., 0])
    for kind in ("uniform_ratio", "clip_first_try"):
        r = (
            0.75 + (4 / 3 - 0.75) * u[..., 1]
            if kind == "uniform_ratio"
            else torch.exp(math.log(0.75) + math.log(16 / 9) * u[..., 1])
        )
        w, h = torch.round(torch.sqrt(area * r)), torch.round(torch.sqrt(area / r))
        if kind == "clip_first_try":
            w, h = w[:, 0].clamp(max=side), h[:, 0].clamp(max=side)
        else:
            first = ((w <= side) & (h <= side)).int().argmax(1, keepdim=True)
            w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
        wrong = {"area": (h * w / side**2).numpy(), "log_ratio": torch.log(w / h).numpy()}
        assert min(stats.ks_2samp(ref[k], wrong[k]).pvalue for k in wrong) < 1e-9, kind


@pytest.mark.parametrize("height,width", [(100, 400), (400, 100)])
def test_random_resized_boxes_fall_back_to_torchvisions_centre_crop(height, width):
    """With scale (0.9, 1) no box of ratio 3/4..4/3 fits a 1:4 image: every box is torchvision's fallback."""
    ours = random_resized_boxes(50, height, width, torch.Generator().manual_seed(0), scale=(0.9, 1.0)).numpy()
    ref = torchvision_boxes(50, height, width, seed=0, scale=(0.9, 1.0))
    np.testing.assert_array_equal(ours, ref)


def _boxes_on(height, width, n, seed):
    boxes = random_resized_boxes(n, height, width, torch.Generator().manual_seed(seed))
    boxes[0] = torch.tensor([0, 0, height, width])  # the whole image (downscaled)
    boxes[1] = torch.tensor([height - 3, width - 2, 3, 2])  # a tiny corner box (upscaled a lot)
    boxes[2] = torch.tensor([1, 0, height - 1, 9])  # tall and thin, touching the left edge
    return boxes


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 5e-5), (torch.float64, 1e-12)])
def test_resized_crop_equals_torchvisions_resized_crop(dtype, tol):
    from torchvision.transforms.v2 import functional as TF

    n, height, width = 24, 40, 52
    x = torch.rand(n, 3, height, width, generator=torch.Generator().manual_seed(0), dtype=dtype)
    boxes = _boxes_on(height, width, n, seed=3)
    for size in (32, (24, 36)):
        out = resized_crop(x, boxes, size)
        for i, (top, left, h, w) in enumerate(boxes.tolist()):
            ref = TF.resized_crop(
                x[i], top, left, h, w, list(size) if isinstance(size, tuple) else [size, size], antialias=True
            )
            assert (out[i] - ref).abs().max().item() < tol, (i, top, left, h, w)


def test_resized_crop_matches_the_authors_pil_pipeline_up_to_uint8_rounding():
    """The authors crop PIL images (ToTensor after RandomResizedCrop): PIL's bilinear resampling with
    fixed-point weights and uint8 output.  Ours is within one uint8 step of it."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    n, side = 16, 64
    u8 = torch.randint(0, 256, (n, 3, side, side), generator=torch.Generator().manual_seed(5), dtype=torch.uint8)
    boxes = _boxes_on(side, side, n, seed=6)
    out = resized_crop(u8.float() / 255, boxes, 48)
    diffs = []
    for i, (top, left, h, w) in enumerate(boxes.tolist()):
        img = Image.fromarray(u8[i].permute(1, 2, 0).numpy())
        pil = TF.resized_crop(img, top, left, h, w, [48, 48], interpolation=InterpolationMode.BILINEAR)
        diffs.append((out[i] - TF.pil_to_tensor(pil).float() / 255).abs())
    diffs = torch.stack(diffs) * 255
    assert diffs.max().item() <= 1.01 and diffs.mean().item() < 0.4


def _epoch_before_random_resized_crop(server, epoch):
    """TensorBatches.epoch as it was before random_resized_crop existed (commit eb1a41d), verbatim."""
    gen = server.generator(epoch)
    n = server.num_samples
    order = (torch.randperm(n, generator=gen) if server.shuffle else torch.arange(n)).to(server.device)
    for b in range(len(server)):
        idx = order[b * server.batch_size : (b + 1) * server.batch_size]
        xb = server.x.index_select(0, idx)
        yb = server.y.index_select(0, idx)
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        if server.crop_padding:
            xb = random_crop(xb, server.crop_padding, gen)
        if server.hflip:
            xb = random_hflip(xb, gen)
        if server.batch_transform is not None:
            xb = server.batch_transform(xb)
        yield xb, yb


@pytest.mark.parametrize("crop_padding,hflip", [(0, False), (2, False), (0, True), (2, True)])
def test_existing_options_give_bitwise_the_batches_they_gave_before(crop_padding, hflip):
    x, y = _data(130, 3, 8)
    server = TensorBatches(x, y, 32, data_seed=7, crop_padding=crop_padding, hflip=hflip)
    for epoch in (0, 3):
        old = list(_epoch_before_random_resized_crop(server, epoch))
        new = list(server.epoch(epoch))
        assert len(old) == len(new) == 5
        for (xa, ya), (xb, yb) in zip(old, new):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_random_resized_crop_batches_depend_only_on_data_seed_and_epoch(monkeypatch):
    from torchvision.transforms.v2 import functional as TF

    import robustopt.data.batches as batches

    x, y = _data(70, 3, 16)
    make = lambda seed: TensorBatches(x, y, 32, data_seed=seed, random_resized_crop=12, hflip=True)  # noqa: E731
    a, b, c = make(4), make(4), make(5)
    state = torch.random.get_rng_state()
    ea = list(a.epoch(2))
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG plays no part
    assert [tuple(xb.shape) for xb, _ in ea] == [(32, 3, 12, 12), (32, 3, 12, 12), (6, 3, 12, 12)]
    for (xa, ya), (xb, yb) in zip(ea, b.epoch(2)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(ea[0][0], next(iter(a.epoch(3)))[0])
    assert not torch.equal(ea[0][0], next(iter(c.epoch(2)))[0])
    # the order is the one without augmentation (the permutation is drawn first) ...
    assert torch.equal(torch.cat([yb for _, yb in ea]), a.order(2))
    # ... and each image is torchvision's resized_crop of the box drawn next from the epoch's generator, then flipped
    gen = a.generator(2)
    torch.randperm(70, generator=gen)
    order = a.order(2)
    for bi, (xb, _) in enumerate(ea):
        idx = order[bi * 32 : (bi + 1) * 32]
        boxes = random_resized_boxes(len(idx), 16, 16, gen)
        flip = torch.rand(len(idx), generator=gen) < 0.5
        for i, (top, left, h, w) in enumerate(boxes.tolist()):
            ref = TF.resized_crop(x[idx[i]].float() / 255, top, left, h, w, [12, 12], antialias=True)
            ref = ref.flip(2) if flip[i] else ref
            assert (xb[i] - ref).abs().max().item() < 5e-5
    # uint8 storage (large sets) gives the same batches
    monkeypatch.setattr(batches, "FLOAT_CACHE_LIMIT_BYTES", 0)
    big = make(4)
    assert big.x.dtype == torch.uint8
    for (xa, _), (xb, _) in zip(ea, big.epoch(2)):
        assert torch.equal(xa, xb)


def test_random_resized_crop_draws_on_the_cpu_and_its_config_errors():
    x = torch.rand(6, 3, 20, 20)
    out = random_resized_crop(x, 16, torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ConfigError, match="exclude each other"):
        TensorBatches(x, torch.zeros(6), 2, crop_padding=2, random_resized_crop=16)
    with pytest.raises(ConfigError, match="between 1 and the stored images' 20 pixels"):
        TensorBatches(x, torch.zeros(6), 2, random_resized_crop=24)


def test_epoch_size_cuts_the_stream_of_passes_into_shorter_epochs():
    """Epochs of ``epoch_size`` images are consecutive pieces of the passes a full-epoch server would serve."""
    x, y = _data(100, 1, 4)
    full = TensorBatches(x, y, 16, data_seed=5)
    stream = torch.cat([full.order(p) for p in range(4)])  # four passes, as whole epochs would serve them
    short = TensorBatches(x, y, 16, data_seed=5, epoch_size=30)
    assert len(short) == 2  # ceil(30 / 16)
    pieces = torch.cat([torch.cat([yb for _, yb in short.epoch(e)]) for e in range(13)])  # 390 images
    assert torch.equal(pieces, stream[:390])
    assert torch.equal(short.order(4), stream[120:150])  # crosses from pass 1 into pass 2
    same = TensorBatches(x, y, 16, data_seed=5, epoch_size=100)  # one pass: exactly the default epochs
    for e in (0, 2):
        assert all(torch.equal(a, b) for (a, _), (b, _) in zip(same.epoch(e), full.epoch(e)))
    with pytest.raises(ConfigError, match="epoch_size"):
        TensorBatches(x, y, 16, epoch_size=0)
