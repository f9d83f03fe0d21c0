"""MNIST and Fashion-MNIST: the IDX files in torchvision's layout ``<root>/{MNIST,FashionMNIST}/raw/``.

Where the unpacked IDX files come from, in order:

1. ``<root>/<Folder>/raw/<file>`` already there (torchvision layout);
2. ``<root>/<Folder>/raw/<file>.gz`` (the files as published), unpacked in place;
3. Fashion-MNIST only: the Debian package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist/*.gz``,
   overridable with ``$ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR`` or :data:`FASHION_MNIST_SYSTEM_DIR`), unpacked into
   ``<root>/FashionMNIST/raw/``;
4. with ``download=True``: torchvision's own download.

Unpacking is atomic (temporary file + rename), so an interrupted run never leaves a half-written IDX file.
The arrays are read by torchvision (``datasets.MNIST(...).data / .targets``), no per-image work.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import torch

from robustopt.data.registry import DatasetSpec, register_dataset
from robustopt.data.sets._common import check_labels, check_split, run_download
from robustopt.errors import DataError
from robustopt.io import atomic_write_bytes

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_IDX_FILES = IDX_FILES["train"] + IDX_FILES["test"]

#: Where the Debian package ``dataset-fashion-mnist`` puts the gzip'd IDX files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Environment variable that overrides :data:`FASHION_MNIST_SYSTEM_DIR`.
FASHION_MNIST_SYSTEM_DIR_ENV = "ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR"


def fashion_mnist_system_dir() -> Path:
    """The folder searched for the system-wide (Debian) copy of Fashion-MNIST."""
    override = os.environ.get(FASHION_MNIST_SYSTEM_DIR_ENV)
    return Path(override) if override else Path(FASHION_MNIST_SYSTEM_DIR)


def unpack_gzip(src: Path, dst: Path, name: str) -> None:
    """Decompress ``src`` into ``dst`` atomically; a broken archive raises :class:`DataError` naming it."""
    try:
        with gzip.open(src, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: {src} is not a valid gzip file ({exc}); delete it and copy it again") from None
    try:
        atomic_write_bytes(dst, data)
    except OSError as exc:
        raise DataError(f"{name}: cannot write {dst} ({exc.strerror}); make {dst.parent} writable") from None


def _fill_raw_folder(name: str, raw: Path, system_dir: Path | None) -> list[str]:
    """Unpack any missing IDX file from a ``.gz`` next to it or in ``system_dir``; return those still missing."""
    missing = []
    for fname in ALL_IDX_FILES:
        target = raw / fname
        if target.is_file():
            continue
        sources = [raw / f"{fname}.gz"] + ([system_dir / f"{fname}.gz"] if system_dir is not None else [])
        source = next((s for s in sources if s.is_file()), None)
        if source is None:
            missing.append(fname)
        else:
            unpack_gzip(source, target, name)
    return missing


def read_idx_dataset(
    root: Path,
    split: str,
    download: bool,
    *,
    name: str,
    torchvision_class: str,
    system_dir: Path | None = None,
    num_classes: int = 10,
    image_size: int = 28,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one split of an MNIST-like IDX data set in torchvision's layout ``root/<torchvision_class>/raw``."""
    import torchvision.datasets as tvd

    check_split(name, split)
    root = Path(root).expanduser()
    raw = root / torchvision_class / "raw"
    cls = getattr(tvd, torchvision_class)
    missing = _fill_raw_folder(name, raw, system_dir)
    if missing:
        if download:
            run_download(
                name, "torchvision's mirrors", str(raw), lambda: cls(str(root), train=split == "train", download=True)
            )
        else:
            offline = (
                f"install it offline with `apt-get install dataset-fashion-mnist` (read from {system_dir}), "
                if system_dir is not None
                else ""
            )
            raise DataError(
                f"{name} not found: expected the IDX files {', '.join(ALL_IDX_FILES)} (or the same names with .gz) "
                f"in {raw} but {', '.join(missing)} are missing; {offline}set download=true where the network "
                f"allows, or copy the files there"
            )
    try:
        ds = cls(str(root), train=split == "train", download=False)
        images, labels = ds.data, ds.targets
    except Exception as exc:  # torchvision raises RuntimeError / ValueError / KeyError on malformed files
        files = ", ".join(str(raw / f) for f in IDX_FILES[split])
        raise DataError(
            f"{name}: cannot read the IDX files {files} ({type(exc).__name__}: {exc}); they are truncated or "
            f"corrupt, delete them and copy them again"
        ) from None
    image_file = raw / IDX_FILES[split][0]
    if images.dtype != torch.uint8 or images.ndim != 3 or tuple(images.shape[1:]) != (image_size, image_size):
        raise DataError(
            f"{name}: {image_file} holds a {images.dtype} array of shape {tuple(images.shape)} instead of "
            f"uint8 (N, {image_size}, {image_size}); replace it with the original file"
        )
    if labels.numel() != images.shape[0]:
        raise DataError(
            f"{name}: {image_file} has {images.shape[0]} images but {raw / IDX_FILES[split][1]} has "
            f"{labels.numel()} labels; one of them is truncated, copy both again"
        )
    labels = check_labels(name, raw / IDX_FILES[split][1], labels, num_classes)
    return images.unsqueeze(1).contiguous(), labels


def read_fashion_mnist(root: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST (Xiao et al., 2017): 1x28x28 grey images of 10 clothing classes, 60000 train / 10000 test."""
    return read_idx_dataset(
        root, split, download, name="fashion_mnist", torchvision_class="FashionMNIST",
        system_dir=fashion_mnist_system_dir(),
    )  # fmt: skip


def read_mnist(root: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST (LeCun et al., 1998): 1x28x28 grey handwritten digits, 60000 train / 10000 test."""
    return read_idx_dataset(root, split, download, name="mnist", torchvision_class="MNIST")


def _idx_hint(folder: str, extra: str = "") -> str:
    return f"<root>/{folder}/raw/ holding the IDX files {', '.join(ALL_IDX_FILES)} (unpacked or .gz){extra}"


FASHION_MNIST = register_dataset(
    DatasetSpec(
        name="fashion_mnist",
        in_channels=1,
        num_classes=10,
        image_size=28,
        reader=read_fashion_mnist,
        mean=(0.2860,),
        std=(0.3530,),
        layout_hint=_idx_hint(
            "FashionMNIST", "; offline: `apt-get install dataset-fashion-mnist` and they are unpacked there for you"
        ),
    )
)

MNIST = register_dataset(
    DatasetSpec(
        name="mnist",
        in_channels=1,
        num_classes=10,
        image_size=28,
        reader=read_mnist,
        mean=(0.1307,),
        std=(0.3081,),
        layout_hint=_idx_hint("MNIST"),
    )
)
