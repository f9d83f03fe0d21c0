"""The in-memory batch server and its on-device augmentation, checked against direct computations."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from robustopt.data import TensorBatches, load_dataset
from robustopt.data.augment import random_crop, random_hflip


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
        windows = [(i, j) for i in range(5) for j in range(5) if torch.equal(out[n], padded[n, :, i : i + 6, j : j + 6])]
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
