"""Writers of small data-set files in each data set's REAL on-disk format, for the data-reader tests.

Each writer builds the bytes itself from the published format description (IDX headers with their magic
numbers, Python pickles with bytes keys, MATLAB v5 files, JPEG/PNG trees) and returns the arrays it wrote, so the
tests can compare what the readers return with an independent source of truth.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, type 0x08, ndim), big-endian int32 dims, raw bytes."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    return header + array.tobytes(order="C")


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``gz``)."""
    data = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_mnist_like(folder: Path, n_train: int = 12, n_test: int = 7, gz: bool = False, seed: int = 0) -> dict:
    """Write the four IDX files of an MNIST-like set into ``folder``; returns {split: (images, labels)}."""
    rng = np.random.default_rng(seed)
    out = {}
    suffix = ".gz" if gz else ""
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, gz)
        out[split] = (images, labels)
    return out


def write_cifar(root: Path, which: str = "cifar10", n_per_file: int = 6, seed: int = 0) -> dict:
    """Write CIFAR-10 (5 train batches + test_batch) or CIFAR-100 (train + test) pickles with bytes keys.

    Returns {split: (data uint8 (N, 3072), labels int64 (N,))}, train batches concatenated in order.
    """
    rng = np.random.default_rng(seed)
    if which == "cifar10":
        folder, label_key, classes = root / "cifar-10-batches-py", b"labels", 10
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    else:
        folder, label_key, classes = root / "cifar-100-python", b"fine_labels", 100
        files = {"train": ["train"], "test": ["test"]}
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, names in files.items():
        datas, labels_all = [], []
        for name in names:
            data = rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, classes, size=n_per_file)]
            entry = {
                b"batch_label": name.encode(),
                b"data": data,
                label_key: labels,
                b"filenames": [b"x.png"] * n_per_file,
            }
            if which == "cifar100":
                entry[b"coarse_labels"] = [v // 5 for v in labels]
            with open(folder / name, "wb") as fh:
                pickle.dump(entry, fh, protocol=2)
            datas.append(data)
            labels_all.extend(labels)
        out[split] = (np.concatenate(datas), np.asarray(labels_all, dtype=np.int64))
    return out


def write_svhn(root: Path, n_train: int = 9, n_test: int = 5, seed: int = 0) -> dict:
    """Write ``root/svhn/{train,test}_32x32.mat`` (MATLAB v5, X (32, 32, 3, N) uint8, y (N, 1) in 1..10)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(n, 1).astype(np.uint8)  # 1..10, 10 meaning the digit 0
        (root / "svhn").mkdir(parents=True, exist_ok=True)
        savemat(str(root / "svhn" / f"{split}_32x32.mat"), {"X": x, "y": y}, format="5")
        out[split] = (x, y)
    return out


def save_image(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    """Save a uint8 (H, W) or (H, W, 3) array with PIL; the format follows the suffix (.jpg/.JPEG/.png)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(array, dtype=np.uint8))
    if mode is not None:
        img = img.convert(mode)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}[path.suffix.lower()]
    img.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def solid(color, height: int, width: int) -> np.ndarray:
    """A (H, W, 3) image of one colour (or (H, W) for a grey level)."""
    color = np.asarray(color, dtype=np.uint8)
    shape = (height, width) + color.shape
    return np.broadcast_to(color, shape).copy()


def color_of(index: int) -> tuple[int, int, int]:
    """A distinct colour per index (channels 40 grey levels apart), so a decoded image tells its source file."""
    return (40 * (index % 6) + 20, 40 * ((index // 6) % 6) + 20, 40 * ((index // 36) % 6) + 20)


def nearest_index(pixel, count: int) -> int:
    """Invert :func:`color_of` on a (possibly JPEG-perturbed) RGB pixel."""
    dist = [sum((int(p) - c) ** 2 for p, c in zip(pixel, color_of(i))) for i in range(count)]
    return int(np.argmin(dist))
