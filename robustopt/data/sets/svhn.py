"""SVHN, cropped digits (Netzer et al., 2011): the official MATLAB v5 files in ``<root>/svhn/``.

``train_32x32.mat`` / ``test_32x32.mat`` hold ``X``, a (32, 32, 3, N) uint8 array (height, width, channel,
image), and ``y``, an (N, 1) array of labels 1..10 where 10 stands for the digit 0.  One transpose gives
(N, 3, 32, 32); labels become ``y % 10`` so that class k is the digit k.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustopt.data.registry import DatasetSpec, register_dataset
from robustopt.data.sets._common import check_labels, check_split, download_file
from robustopt.errors import DataError

SVHN_FOLDER = "svhn"
SVHN_FILES = {
    "train": ("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
              "e26dedcc434d2e4c54c9b2d4a06d8373"),
    "test": ("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat",
             "eb5a983be6a315427106f1b164d9cef3"),
}  # fmt: skip


def read_svhn_mat(path: Path, name: str = "svhn") -> tuple[torch.Tensor, torch.Tensor]:
    """Read one SVHN ``.mat`` file into (images uint8 (N, 3, 32, 32), labels int64 (N,) in 0..9)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except NotImplementedError:  # MATLAB v7.3 (HDF5) files
        raise DataError(
            f"{name}: {path} is a MATLAB v7.3 file; use the official MATLAB v5 file from "
            f"{SVHN_FILES['train'][1].rsplit('/', 1)[0]}/"
        ) from None
    except Exception as exc:  # truncated or foreign files: ValueError, TypeError, OSError, ...
        raise DataError(
            f"{name}: cannot read {path} ({type(exc).__name__}: {exc}); the file is truncated or corrupt, "
            f"delete it and copy it again"
        ) from None
    if "X" not in mat or "y" not in mat:
        raise DataError(f"{name}: {path} has no 'X' and 'y' arrays; replace it with the official file")
    x, y = mat["X"], np.asarray(mat["y"]).reshape(-1)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.size:
        raise DataError(
            f"{name}: {path} holds X of dtype {x.dtype} and shape {x.shape} with {y.size} labels instead of "
            f"uint8 (32, 32, 3, N) with N labels; replace it with the official file"
        )
    if y.size and (y.min() < 1 or y.max() > 10):
        raise DataError(
            f"{name}: {path} holds labels in [{y.min()}, {y.max()}] instead of 1..10; replace it with the official file"
        )
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    labels = torch.from_numpy(y.astype(np.int64) % 10)
    return images, check_labels(name, path, labels, 10)


def read_svhn(root: Path, split: str, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN cropped digits: 3x32x32 colour images of 10 digits, 73257 train / 26032 test."""
    check_split("svhn", split)
    folder = Path(root).expanduser() / SVHN_FOLDER
    filename, url, md5 = SVHN_FILES[split]
    path = folder / filename
    if not path.is_file() and download:
        download_file("svhn", url, md5, folder, filename, str(path))
    if not path.is_file():
        raise DataError(
            f"svhn not found: expected {path} (the MATLAB file from {url}); copy train_32x32.mat and test_32x32.mat "
            f"into {folder}, or set download=true where the network allows"
        )
    return read_svhn_mat(path)


SVHN = register_dataset(
    DatasetSpec(
        name="svhn",
        in_channels=3,
        num_classes=10,
        image_size=32,
        reader=read_svhn,
        mean=(0.4377, 0.4438, 0.4728),
        std=(0.1980, 0.2010, 0.1970),
        layout_hint=f"<root>/{SVHN_FOLDER}/ holding train_32x32.mat and test_32x32.mat (from "
        f"{SVHN_FILES['train'][1].rsplit('/', 1)[0]}/)",
    )
)
