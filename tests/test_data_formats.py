"""The data-set readers on small files written in each data set's real on-disk format (see tests/formats.py)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from robustopt.data.registry import DATASETS, get_spec
from robustopt.data.sets import imagefolder, mnist, synthetic
from robustopt.errors import ConfigError, DataError
from tests import formats

REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def no_system_fashion_mnist(tmp_path, monkeypatch):
    """Hide the machine's Debian Fashion-MNIST unless a test points the reader at a folder explicitly."""
    monkeypatch.setenv(mnist.FASHION_MNIST_SYSTEM_DIR_ENV, str(tmp_path / "no-system-fashion-mnist"))


def check_output(name: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    """The reader contract: uint8 (N, C, H, W) contiguous matching the spec, int64 (N,) labels in range."""
    spec = get_spec(name)
    assert images.dtype == torch.uint8 and images.is_contiguous()
    assert images.ndim == 4 and tuple(images.shape[1:]) == (spec.in_channels, spec.image_size, spec.image_size)
    assert labels.dtype == torch.int64 and labels.shape == (images.shape[0],)
    assert int(labels.min()) >= 0 and int(labels.max()) < spec.num_classes


def assert_one_sentence_data_error(excinfo, *needles: str) -> None:
    msg = str(excinfo.value)
    assert "\n" not in msg and excinfo.value.__cause__ is None
    for needle in needles:
        assert needle in msg, (needle, msg)


# ------------------------------------------------------------------------------------------------ registry


def test_every_data_set_is_registered_with_consistent_metadata():
    expected = {
        "mnist": (1, 10, 28), "fashion_mnist": (1, 10, 28), "cifar10": (3, 10, 32), "cifar100": (3, 100, 32),
        "svhn": (3, 10, 32), "caltech101": (3, 101, 224), "imagenette": (3, 10, 224), "synthetic": (1, 4, 16),
    }  # fmt: skip
    assert set(expected) <= set(DATASETS.names())
    for name, (c, k, s) in expected.items():
        spec = get_spec(name)
        assert (spec.in_channels, spec.num_classes, spec.image_size) == (c, k, s)
        assert len(spec.mean) == len(spec.std) == c and all(0 < v < 1 for v in spec.mean + spec.std)
        assert spec.splits == ("train", "test") and spec.layout_hint
        assert spec.cacheable == (name != "synthetic")
        # random_resized_crop: the authors' Resize(256) -> RandomResizedCrop(224) for the 224-px sets only
        assert spec.crop_source_size == (256 if name in ("caltech101", "imagenette") else None)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "svhn", "imagenette", "caltech101", "synthetic"])
def test_unknown_split_is_a_config_error(name, tmp_path):
    with pytest.raises(ConfigError, match="unknown split 'valid'"):
        get_spec(name).reader(tmp_path, "valid", False)


# ------------------------------------------------------------------------------------ MNIST / Fashion-MNIST

IDX_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}


@pytest.mark.parametrize("gz", [False, True], ids=["unpacked", "gz-in-raw"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_files_are_read(name, gz, tmp_path):
    raw = tmp_path / IDX_FOLDERS[name] / "raw"
    written = formats.write_mnist_like(raw, n_train=12, n_test=7, gz=gz)
    for split, (arr, lab) in written.items():
        images, labels = get_spec(name).reader(tmp_path, split, False)
        check_output(name, images, labels)
        assert images.shape == (len(arr), 1, 28, 28)
        assert np.array_equal(images[:, 0].numpy(), arr) and np.array_equal(labels.numpy(), lab.astype(np.int64))
    if gz:  # the .gz files were unpacked next to themselves, atomically (no temporary file left behind)
        for fname in mnist.ALL_IDX_FILES:
            assert (raw / fname).read_bytes() == gzip.decompress((raw / f"{fname}.gz").read_bytes())
        assert sorted(p.name for p in raw.iterdir() if not p.name.endswith(".gz")) == sorted(mnist.ALL_IDX_FILES)


@pytest.mark.parametrize("how", ["env", "constant"])
def test_fashion_mnist_is_unpacked_from_the_system_folder(how, tmp_path, monkeypatch):
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    written = formats.write_mnist_like(system, n_train=20, n_test=10, gz=True, seed=3)
    if how == "env":
        monkeypatch.setenv(mnist.FASHION_MNIST_SYSTEM_DIR_ENV, str(system))
    else:
        monkeypatch.delenv(mnist.FASHION_MNIST_SYSTEM_DIR_ENV)
        monkeypatch.setattr(mnist, "FASHION_MNIST_SYSTEM_DIR", system)
    root = tmp_path / "data"
    images, labels = get_spec("fashion_mnist").reader(root, "test", False)
    check_output("fashion_mnist", images, labels)
    assert np.array_equal(images[:, 0].numpy(), written["test"][0])
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(mnist.ALL_IDX_FILES)  # all four, no temp files
    img = (raw / "train-images-idx3-ubyte").read_bytes()
    assert img[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(img[4:8], "big") == 20
    assert img == formats.idx_bytes(written["train"][0])


def test_fashion_mnist_missing_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(DataError) as excinfo:
        get_spec("fashion_mnist").reader(tmp_path, "train", False)
    assert_one_sentence_data_error(
        excinfo, str(tmp_path / "FashionMNIST" / "raw"), "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
        "apt-get install dataset-fashion-mnist", "download=true",
    )  # fmt: skip


def test_idx_corrupt_files_raise_data_error(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    formats.write_mnist_like(raw)
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])  # truncated download
    with pytest.raises(DataError) as excinfo:
        get_spec("mnist").reader(tmp_path, "train", False)
    assert_one_sentence_data_error(excinfo, str(path))

    formats.write_mnist_like(raw)
    formats.write_idx(raw / "t10k-labels-idx1-ubyte", np.array([1, 2, 10, 3, 4, 5, 6], dtype=np.uint8))
    with pytest.raises(DataError, match="labels in \\[1, 10\\]"):
        get_spec("mnist").reader(tmp_path, "test", False)

    formats.write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(6, dtype=np.uint8))  # 7 images, 6 labels
    with pytest.raises(DataError, match="7 images but"):
        get_spec("mnist").reader(tmp_path, "test", False)

    raw2 = tmp_path / "other" / "MNIST" / "raw"
    formats.write_mnist_like(raw2, gz=True)
    bad = raw2 / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:50])
    with pytest.raises(DataError) as excinfo:
        get_spec("mnist").reader(tmp_path / "other", "test", False)
    assert_one_sentence_data_error(excinfo, str(bad))
    assert not (raw2 / "t10k-images-idx3-ubyte").exists()


def test_idx_download_failure_is_a_data_error_without_traceback(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def fail(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirrors ...")

    monkeypatch.setattr(tvd.MNIST, "download", fail)
    with pytest.raises(DataError) as excinfo:
        get_spec("fashion_mnist").reader(tmp_path, "train", True)
    assert_one_sentence_data_error(excinfo, "downloading fashion_mnist", "Error downloading")

    def fake_download(self):  # what a successful torchvision download leaves behind
        formats.write_mnist_like(Path(self.raw_folder), n_train=5, n_test=4)

    monkeypatch.setattr(tvd.MNIST, "download", fake_download)
    images, labels = get_spec("mnist").reader(tmp_path, "train", True)
    assert images.shape == (5, 1, 28, 28)


# ------------------------------------------------------------------------------------------------ CIFAR


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickles_are_read(name, tmp_path):
    written = formats.write_cifar(tmp_path, name, n_per_file=6)
    rng = np.random.default_rng(1)
    for split, (data, lab) in written.items():
        images, labels = get_spec(name).reader(tmp_path, split, False)
        check_output(name, images, labels)
        assert images.shape[0] == len(data) == (30 if (name, split) == ("cifar10", "train") else 6)
        assert np.array_equal(labels.numpy(), lab)
        # Each row is the red, green, blue 32x32 planes in row-major order (the CIFAR format description).
        for _ in range(200):
            n, c, h, w = rng.integers(len(data)), rng.integers(3), rng.integers(32), rng.integers(32)
            assert images[n, c, h, w].item() == data[n, c * 1024 + h * 32 + w]


def test_cifar_corrupt_or_foreign_pickles_raise_data_error(tmp_path):
    formats.write_cifar(tmp_path, "cifar10")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:2000])
    with pytest.raises(DataError) as excinfo:
        get_spec("cifar10").reader(tmp_path, "train", False)
    assert_one_sentence_data_error(excinfo, str(batch), "truncated or corrupt")

    formats.write_cifar(tmp_path, "cifar10")  # CIFAR-10 files where CIFAR-100 files are expected
    (tmp_path / "cifar-100-python").mkdir()
    (tmp_path / "cifar-100-python" / "test").write_bytes((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())
    with pytest.raises(DataError, match="fine_labels"):
        get_spec("cifar100").reader(tmp_path, "test", False)


def test_cifar_download_uses_the_official_archive(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    calls = []

    def fake(url, download_root, md5=None, **kw):
        calls.append((url, md5))
        formats.write_cifar(Path(download_root), "cifar100", n_per_file=4)

    monkeypatch.setattr(tvu, "download_and_extract_archive", fake)
    images, _ = get_spec("cifar100").reader(tmp_path, "test", True)
    assert images.shape == (4, 3, 32, 32)
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")]

    def offline(url, download_root, md5=None, **kw):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvu, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as excinfo:
        get_spec("cifar10").reader(tmp_path, "train", True)
    assert_one_sentence_data_error(excinfo, "cifar-10-python.tar.gz", "name resolution")


# ------------------------------------------------------------------------------------------------ SVHN


def test_svhn_mat_files_are_read_and_label_10_means_digit_0(tmp_path):
    written = formats.write_svhn(tmp_path, n_train=13, n_test=11)
    rng = np.random.default_rng(2)
    for split, (x, y) in written.items():
        images, labels = get_spec("svhn").reader(tmp_path, split, False)
        check_output("svhn", images, labels)
        assert images.shape[0] == x.shape[3]
        for _ in range(200):  # X is indexed (row, column, channel, image)
            h, w, c, n = (int(rng.integers(s)) for s in x.shape)
            assert images[n, c, h, w].item() == x[h, w, c, n]
        y = y.ravel()
        assert (labels[y == 10] == 0).all() and (y == 10).any()
        assert np.array_equal(labels.numpy()[y != 10], y[y != 10])


def test_svhn_errors_and_download(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    with pytest.raises(DataError) as excinfo:
        get_spec("svhn").reader(tmp_path, "test", False)
    assert_one_sentence_data_error(excinfo, str(tmp_path / "svhn" / "test_32x32.mat"))

    formats.write_svhn(tmp_path)
    path = tmp_path / "svhn" / "train_32x32.mat"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DataError) as excinfo:
        get_spec("svhn").reader(tmp_path, "train", False)
    assert_one_sentence_data_error(excinfo, str(path))

    calls = []

    def fake(url, root, filename=None, md5=None, **kw):
        calls.append((url, filename, md5))
        from scipy.io import savemat

        x = np.zeros((32, 32, 3, 2), np.uint8)
        savemat(str(Path(root) / filename), {"X": x, "y": np.array([[10], [3]], np.uint8)})

    monkeypatch.setattr(tvu, "download_url", fake)
    other = tmp_path / "fresh"
    _, labels = get_spec("svhn").reader(other, "test", True)
    assert labels.tolist() == [0, 3]
    assert calls == [
        ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat", "test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3")
    ]


# ------------------------------------------------------------------------------------------------ image folders


def test_load_image_resizes_the_shorter_side_and_centre_crops(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for h, w in [(300, 512), (512, 300)]:
        arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        path = formats.save_image(tmp_path / f"noise_{h}x{w}.png", arr)
        out = imagefolder.load_image(path)
        assert out.shape == (3, 224, 224) and out.dtype == torch.uint8
        # Independent recipe in plain PIL: shorter side to 256 (bilinear), then the centre 224x224 window.
        new_w, new_h = (256 * w // h, 256) if h < w else (256, 256 * h // w)
        big = np.asarray(Image.open(path).convert("RGB").resize((new_w, new_h), Image.BILINEAR))
        top, left = round((new_h - 224) / 2), round((new_w - 224) / 2)
        assert np.array_equal(out.permute(1, 2, 0).numpy(), big[top : top + 224, left : left + 224])

    # Three bands across the long side: only the middle one survives the centre crop (no squashing).
    bands = np.concatenate([formats.solid((255, 0, 0), 300, 100), formats.solid((0, 255, 0), 300, 312),
                            formats.solid((0, 0, 255), 300, 100)], axis=1)  # fmt: skip
    out = imagefolder.load_image(formats.save_image(tmp_path / "bands.png", bands))
    assert (out[1] == 255).all() and (out[0] == 0).all() and (out[2] == 0).all()


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_grey_and_palette_images_become_rgb(suffix, tmp_path):
    grey = imagefolder.load_image(formats.save_image(tmp_path / f"grey{suffix}", formats.solid(77, 40, 30)), 32, 36)
    assert grey.shape == (3, 32, 32) and (grey.int() - 77).abs().max() <= 1
    from PIL import Image

    pal = Image.new("P", (20, 20), 1)  # every pixel is palette entry 1
    pal.putpalette([0, 0, 0, 200, 40, 90] + [0] * 762)
    pal.save(tmp_path / "pal.png")
    out = imagefolder.load_image(tmp_path / "pal.png", 16, 18)
    assert out[:, 8, 8].tolist() == [200, 40, 90]


def test_undecodable_image_raises_data_error_naming_it(tmp_path):
    bad = formats.save_image(tmp_path / "imagenette2" / "train" / "n01" / "a.JPEG", formats.solid((1, 2, 3), 50, 50))
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(DataError) as excinfo:
        imagefolder.decode_images([bad])
    assert_one_sentence_data_error(excinfo, str(bad))


IMAGENETTE_WNIDS = ["n03888257", "n01440764", "n03394916", "n02102040", "n03417042",
                    "n03028079", "n02979186", "n03000684", "n03425413", "n03445777"]  # fmt: skip


def write_imagenette(root: Path, folder: str = "imagenette2-320", per_class=(2, 1)) -> None:
    sorted_wnids = sorted(IMAGENETTE_WNIDS)
    for wnid in IMAGENETTE_WNIDS:  # created out of order on purpose
        k = sorted_wnids.index(wnid)
        for sub, count in zip(("train", "val"), per_class):
            for i in range(count):
                suffix = ".JPEG" if (k + i) % 2 else ".png"
                size = (40 + 7 * i, 60 + 5 * k) if i % 2 else (90, 50)
                img = formats.solid(formats.color_of(k), *size)
                if k == 3 and i == 0:  # a grayscale image
                    img = formats.solid(formats.color_of(k)[0], *size)
                formats.save_image(root / folder / sub / wnid / f"{wnid}_{i}{suffix}", img)


def test_imagenette_class_order_and_val_as_test(tmp_path):
    write_imagenette(tmp_path)
    (tmp_path / "imagenette2-320" / "train" / ".DS_Store").write_bytes(b"junk")  # ignored
    for split, per_class in (("train", 2), ("test", 1)):
        images, labels = get_spec("imagenette").reader(tmp_path, split, False)
        check_output("imagenette", images, labels)
        assert labels.bincount(minlength=10).tolist() == [per_class] * 10
        for img, lab in zip(images, labels):
            k = int(lab)
            pixel = img[:, 112, 112].tolist()
            if k == 3 and (img[0] == img[1]).all() and (img[1] == img[2]).all():
                assert abs(pixel[0] - formats.color_of(3)[0]) <= 2  # the grayscale one
            else:  # label k is the k-th folder in sorted order, as torchvision's ImageFolder
                assert formats.nearest_index(pixel, 10) == k


def test_imagenette_layout_errors(tmp_path):
    with pytest.raises(DataError) as excinfo:
        get_spec("imagenette").reader(tmp_path, "train", False)
    assert_one_sentence_data_error(excinfo, str(tmp_path / "imagenette2"), "imagenette2-320")
    write_imagenette(tmp_path, folder="imagenette2", per_class=(1, 1))
    import shutil

    shutil.rmtree(tmp_path / "imagenette2" / "val" / IMAGENETTE_WNIDS[4])
    with pytest.raises(DataError, match="found 9 class folders"):
        get_spec("imagenette").reader(tmp_path, "test", False)


def test_random_resized_crop_stores_the_training_split_at_256_and_leaves_the_test_split(tmp_path):
    """With random_resized_crop the training images are the centre 256x256 of the 256-resized image (whose centre
    224x224 is the usual training / test image); they get their own cache file; the test split is unchanged."""
    from robustopt.data.cache import cache_path, load_configured_split

    write_imagenette(tmp_path, per_class=(2, 1))
    rng = np.random.default_rng(0)
    textured = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)  # 256 x 341 after the resize
    wnid = sorted(IMAGENETTE_WNIDS)[0]
    formats.save_image(tmp_path / "imagenette2-320" / "train" / wnid / f"{wnid}_0.png", textured)
    plain = {"name": "imagenette", "root": str(tmp_path)}
    rrc = {**plain, "random_resized_crop": True}
    x224, y224 = load_configured_split(plain, "train")
    x256, y256 = load_configured_split(rrc, "train")
    assert x224.shape == (20, 3, 224, 224) and x256.shape == (20, 3, 256, 256) and torch.equal(y224, y256)
    assert torch.equal(x256[:, :, 16:240, 16:240], x224)
    assert x256[0].float().std() > 20  # the textured image is the first one (the solid ones: 0)
    # independent recipe in plain PIL: shorter side to 256 (bilinear), then the centre 256x256 window
    from PIL import Image

    big = np.asarray(Image.fromarray(textured).resize((341, 256), Image.BILINEAR))
    left = round((341 - 256) / 2)
    assert np.array_equal(x256[0].permute(1, 2, 0).numpy(), big[:, left : left + 256])
    assert cache_path(tmp_path, "imagenette", "train").exists()
    assert cache_path(tmp_path, "imagenette", "train", 256).name == "imagenette-train-256px-v1.pt"
    assert cache_path(tmp_path, "imagenette", "train", 256).exists()
    assert load_configured_split(rrc, "test")[0].shape[-2:] == (224, 224)
    with pytest.raises(ConfigError, match="does not offer random_resized_crop.*caltech101, imagenette"):
        load_configured_split({"name": "cifar10", "root": str(tmp_path), "random_resized_crop": True}, "train")


def test_the_224px_data_set_configs_train_on_random_resized_crops(tmp_path):
    """conf/dataset/{caltech101,imagenette}.yaml turn on the authors' augmentation, build_training serves 224-px
    random resized crops from the 256-px training split, and configs written before the option existed (no
    random_resized_crop key) keep their identity (resuming them is allowed)."""
    import copy

    from robustopt.runs import config_diff, identity
    from robustopt.train import pipeline
    from tests.conftest import compose

    for name in ("caltech101", "imagenette"):
        ds = compose("train", [f"dataset={name}"])["dataset"]
        assert ds["random_resized_crop"] is True and ds["hflip"] is True and ds["crop_padding"] == 0
    write_imagenette(tmp_path / "data", per_class=(2, 1))
    cfg = compose(
        "train",
        [
            "dataset=imagenette",
            "model=preact_resnet18",
            f"paths.data_dir={tmp_path / 'data'}",
            f"paths.output_dir={tmp_path / 'out'}",
            "batch_size=8",
        ],
    )
    training = pipeline.build_training(cfg, torch.device("cpu"))
    batches, test = training.batches, training.test
    assert batches.random_resized_crop == 224 and batches.hflip and tuple(batches.x.shape[-2:]) == (256, 256)
    assert tuple(next(iter(batches.epoch(0)))[0].shape) == (8, 3, 224, 224)
    assert tuple(test[0].shape[-2:]) == (224, 224)

    new = compose("train", ["dataset=fashion_mnist"])
    assert new["dataset"]["random_resized_crop"] is None
    old = copy.deepcopy(new)
    del old["dataset"]["random_resized_crop"]
    assert config_diff(identity(old), identity(new)) == []


def write_caltech(base: Path, counts: dict[str, int]) -> None:
    for name, n in counts.items():
        for i in range(n):
            suffix = ".jpg" if i % 3 else ".png"
            img = (
                formats.solid(formats.color_of(i), 12 + i, 20)
                if i != 1
                else formats.solid(formats.color_of(i)[0], 9, 9)
            )
            formats.save_image(base / name / f"image_{i:04d}{suffix}", img)


def test_caltech101_split_is_deterministic_disjoint_and_per_class(tmp_path):
    base = tmp_path / "caltech101" / "101_ObjectCategories"
    counts = {"accordion": 10, "Faces_easy": 5, "ant": 2, "yin_yang": 1, "BACKGROUND_Google": 4}
    write_caltech(base, counts)
    classes, split = imagefolder.caltech101_split(base, expected_classes=None)
    assert classes == ["Faces_easy", "accordion", "ant", "yin_yang"]  # sorted, background left out
    again = imagefolder.caltech101_split(base, expected_classes=None)[1]
    assert split == again
    train, test = {p for p, _ in split["train"]}, {p for p, _ in split["test"]}
    assert not train & test
    everything = {p for c in classes for p in (base / c).iterdir()}
    assert train | test == everything
    n_test = {c: sum(1 for p, _ in split["test"] if p.parent.name == c) for c in classes}
    assert n_test == {"accordion": 2, "Faces_easy": 1, "ant": 1, "yin_yang": 0}  # 20 %, >= 1 when n >= 2
    for p, lab in split["train"] + split["test"]:
        assert classes[lab] == p.parent.name

    # The test files of a class are the first ones of a permutation seeded by the class name only ...
    files = sorted((base / "accordion").iterdir())
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(zlib.crc32(b"accordion"))).tolist()
    assert {p for p in test if p.parent.name == "accordion"} == {files[i] for i in perm[:2]}
    # ... so adding a class shifts labels but leaves every other class's split alone.
    write_caltech(base, {"airplanes": 6})
    classes2, split2 = imagefolder.caltech101_split(base, expected_classes=None)
    assert {p for p, _ in split2["test"]} - test == {p for p, _ in split2["test"] if p.parent.name == "airplanes"}

    # The reader follows the split; decoded colours identify the files.
    images, labels = imagefolder.read_caltech101(tmp_path, "test", False, size=16, resize=20, expected_classes=None)
    assert images.shape == (len(split2["test"]), 3, 16, 16)
    assert labels.tolist() == [lab for _, lab in split2["test"]]
    for img, (p, _) in zip(images, split2["test"]):
        i = int(p.stem.split("_")[1])
        if i != 1:
            assert formats.nearest_index(img[:, 8, 8].tolist(), 12) == i


@pytest.mark.slow
def test_caltech101_registered_reader_on_a_full_class_tree(tmp_path):
    base = tmp_path / "caltech101" / "101_ObjectCategories"
    names = [f"class_{k:03d}" for k in range(101)]
    write_caltech(base, {n: 3 for n in names} | {"BACKGROUND_Google": 2})
    seen = {}
    for split in ("train", "test"):
        images, labels = get_spec("caltech101").reader(tmp_path, split, False)
        check_output("caltech101", images, labels)
        assert labels.bincount(minlength=101).tolist() == [2 if split == "train" else 1] * 101
        seen[split] = {(int(lab), round(float(img.float().mean()), 1)) for img, lab in zip(images, labels)}
    assert not seen["train"] & seen["test"] and len(seen["train"]) == 202 and len(seen["test"]) == 101

    import shutil

    shutil.rmtree(base / "class_050")
    with pytest.raises(DataError, match="found 100 class folders .* expected 101"):
        get_spec("caltech101").reader(tmp_path, "train", False)


# ------------------------------------------------------------------------------------------------ missing data

MISSING = {
    "mnist": "MNIST/raw",
    "fashion_mnist": "FashionMNIST/raw",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "svhn": "svhn",
    "caltech101": "caltech101/101_ObjectCategories",
    "imagenette": "imagenette2",
}


@pytest.mark.parametrize("name", sorted(MISSING))
def test_missing_data_set_raises_data_error_naming_the_folder(name, tmp_path):
    root = tmp_path / "nothing-here"
    with pytest.raises(DataError) as excinfo:
        get_spec(name).reader(root, "train", False)
    assert_one_sentence_data_error(excinfo, str(root / MISSING[name]), name, "download=true")


# ------------------------------------------------------------------------------------------------ synthetic


def test_synthetic_is_deterministic_balanced_and_leaves_the_global_rng_alone(tmp_path):
    state = torch.random.get_rng_state()
    train = get_spec("synthetic").reader(tmp_path, "train", False)
    test = get_spec("synthetic").reader(None, "test", True)
    assert torch.equal(torch.random.get_rng_state(), state)
    check_output("synthetic", *train)
    check_output("synthetic", *test)
    assert train[0].shape == (1024, 1, 16, 16) and test[0].shape == (256, 1, 16, 16)
    assert train[1].bincount().tolist() == [256] * 4 and test[1].bincount().tolist() == [64] * 4
    again = synthetic.make_synthetic("train")
    assert torch.equal(again[0], train[0]) and torch.equal(again[1], train[1])
    assert not torch.equal(train[0][:256], test[0])
    assert train[0].float().std() > 20  # not a constant image


@pytest.mark.slow
def test_synthetic_is_learnable_by_a_small_cnn_with_sgd():
    (xtr, ytr), (xte, yte) = (synthetic.make_synthetic(s) for s in ("train", "test"))
    xtr, xte = xtr.float() / 255, xte.float() / 255
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 4),
        )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    for _ in range(6):
        for idx in torch.randperm(len(xtr), generator=gen).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        accuracy = (model(xte).argmax(1) == yte).float().mean().item()
    assert accuracy > 0.85, accuracy


# ------------------------------------------------------------------------------------------------ real data


@pytest.mark.slow
def test_real_fashion_mnist_from_the_debian_package(tmp_path, monkeypatch):
    if not (REAL_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"{REAL_FASHION_MNIST} not found (apt-get install dataset-fashion-mnist provides it)")
    monkeypatch.setenv(mnist.FASHION_MNIST_SYSTEM_DIR_ENV, str(REAL_FASHION_MNIST))
    for split, n in (("train", 60000), ("test", 10000)):
        images, labels = get_spec("fashion_mnist").reader(tmp_path, split, False)
        check_output("fashion_mnist", images, labels)
        assert images.shape == (n, 1, 28, 28)
        assert labels.bincount(minlength=10).tolist() == [n // 10] * 10
        assert images.max() == 255 and images.min() == 0
    assert sorted(p.name for p in (tmp_path / "FashionMNIST" / "raw").iterdir()) == sorted(mnist.ALL_IDX_FILES)
