"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009): the "python version" pickles, read directly.

Layout (as unpacked from the official archives)::

    <root>/cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch   (keys b"data", b"labels")
    <root>/cifar-100-python/train, test                                    (keys b"data", b"fine_labels")

``b"data"`` is a (N, 3072) uint8 array, each row the red, green and blue 32x32 planes in row-major order, so a
single reshape gives (N, 3, 32, 32).  The pickles are read here rather than through torchvision, whose CIFAR class
checks the md5 sum of every file (and so rejects anything but the exact official files).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from robustopt.data.registry import DatasetSpec, register_dataset
from robustopt.data.sets._common import check_labels, check_split, download_archive
from robustopt.errors import DataError

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_FILES = {"train": ("train",), "test": ("test",)}
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"


def _get(entry: dict, key: str):
    """Look ``key`` up as bytes (the official Python-2 pickles) or as str (re-pickled under Python 3)."""
    if key.encode() in entry:
        return entry[key.encode()]
    return entry.get(key)


def read_cifar_pickle(path: Path, name: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR batch file: returns (data uint8 (N, 3072), labels int64 (N,)), or raises :class:`DataError`."""
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh, encoding="bytes")
    except Exception as exc:  # EOFError, UnpicklingError, ValueError, ... on truncated or foreign files
        raise DataError(
            f"{name}: cannot unpickle {path} ({type(exc).__name__}: {exc}); the file is truncated or corrupt, "
            f"delete it and unpack the official archive again"
        ) from None
    data = _get(entry, "data") if isinstance(entry, dict) else None
    labels = _get(entry, label_key) if isinstance(entry, dict) else None
    if data is None or labels is None:
        raise DataError(
            f"{name}: {path} has no '{label_key}' and 'data' entries; it is not a {name} batch file, replace it "
            f"with the one from the official archive"
        )
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.size:
        raise DataError(
            f"{name}: {path} holds a {data.dtype} array of shape {data.shape} with {labels.size} labels instead of "
            f"uint8 (N, 3072) with N labels; replace it with the file from the official archive"
        )
    return data, labels


def read_cifar(
    root: Path,
    split: str,
    download: bool,
    *,
    name: str,
    folder: str,
    files: dict[str, tuple[str, ...]],
    label_key: str,
    num_classes: int,
    url: str,
    md5: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split of a CIFAR-style data set from ``root/folder``."""
    check_split(name, split)
    root = Path(root).expanduser()
    base = root / folder
    wanted = files[split]
    hint = f"{base}/ ({', '.join(files['train'] + files['test'])})"
    missing = [f for f in wanted if not (base / f).is_file()]
    if missing and download:
        download_archive(name, url, md5, root, hint)
        missing = [f for f in wanted if not (base / f).is_file()]
    if missing:
        raise DataError(
            f"{name} not found: expected the pickles {', '.join(files['train'] + files['test'])} in {base} but "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; unpack {url} into {root}, or set "
            f"download=true where the network allows"
        )
    parts = [read_cifar_pickle(base / f, name, label_key) for f in wanted]
    data = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    images = torch.from_numpy(np.ascontiguousarray(data.reshape(-1, 3, 32, 32)))
    source = base / wanted[0] if len(wanted) == 1 else base
    return images, check_labels(name, source, torch.from_numpy(labels), num_classes)


def read_cifar10(root: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10: 3x32x32 colour images of 10 classes, 50000 train / 10000 test."""
    return read_cifar(
        root, split, download, name="cifar10", folder=CIFAR10_FOLDER, files=CIFAR10_FILES, label_key="labels",
        num_classes=10, url=CIFAR10_URL, md5=CIFAR10_MD5,
    )  # fmt: skip


def read_cifar100(root: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-100: 3x32x32 colour images of 100 fine classes, 50000 train / 10000 test."""
    return read_cifar(
        root, split, download, name="cifar100", folder=CIFAR100_FOLDER, files=CIFAR100_FILES,
        label_key="fine_labels", num_classes=100, url=CIFAR100_URL, md5=CIFAR100_MD5,
    )  # fmt: skip


CIFAR10 = register_dataset(
    DatasetSpec(
        name="cifar10",
        in_channels=3,
        num_classes=10,
        image_size=32,
        reader=read_cifar10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        layout_hint=f"<root>/{CIFAR10_FOLDER}/ holding data_batch_1 ... data_batch_5 and test_batch "
        f"(the unpacked {CIFAR10_URL})",
    )
)

CIFAR100 = register_dataset(
    DatasetSpec(
        name="cifar100",
        in_channels=3,
        num_classes=100,
        image_size=32,
        reader=read_cifar100,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        layout_hint=f"<root>/{CIFAR100_FOLDER}/ holding train and test (the unpacked {CIFAR100_URL})",
    )
)
