"""Image-folder data sets: Caltech-101 and Imagenette, decoded once into a uint8 tensor.

Every image is decoded with PIL, converted to RGB (grey, palette, CMYK and RGBA images alike), its shorter side
resized to ``resize`` (bilinear, antialiased) and centre-cropped to ``size`` x ``size`` -- the usual ImageNet
evaluation recipe, used by Ma, Pan & Farahmand (TMLR 2023) with ``resize=256, size=224``.  This runs once per
split (the caller caches the tensor), on a thread pool, with a progress bar for large folders.

Class indices follow :class:`torchvision.datasets.ImageFolder`: sorted folder names.

Training augmentation (``random_resized_crop``).  The authors train these sets on
``Resize(256) -> RandomResizedCrop(224) -> RandomHorizontalFlip`` (freq-robust ``src/utils_dataset.py``,
``load_caltech`` / ``load_imagenette`` with ``standard_DA``).  robustopt keeps whole splits as tensors, so
for that recipe the training split is stored as the centre 256 x 256 of each image resized to a shorter
side of 256 (``size=resize=256``, :attr:`DatasetSpec.crop_source_size`), and the random resized crops
are drawn from it on the device (:func:`robustopt.data.augment.random_resized_crop`).  The one remaining
difference: the authors crop from the whole 256-resized image (e.g. 256 x 341 for a 3:4 photo), so their
crops can reach the parts of a non-square image outside its centre square, and their crop areas and the
centre-crop fallback are relative to the whole image.  For square images the two are the same.

The registered specs use the paper's 256/224 recipe.  For another resolution register your own spec, e.g.::

    from functools import partial
    register_dataset(dataclasses.replace(get_spec("imagenette"), name="imagenette64", image_size=64,
                                         reader=partial(read_imagenette, size=64, resize=73), crop_source_size=73))
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import torch

from robustopt.data.registry import DatasetSpec, register_dataset
from robustopt.data.sets._common import check_split, download_archive, run_download
from robustopt.errors import DataError

DEFAULT_SIZE = 224
DEFAULT_RESIZE = 256
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Folders with at least this many images show a progress bar while decoding.
PROGRESS_MIN_IMAGES = 256


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (by extension, case-insensitive, hidden files skipped), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMG_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )


def list_classes(folder: Path, exclude: Sequence[str] = ()) -> list[str]:
    """Sub-folder names of ``folder`` in sorted order (ImageFolder's class order), minus ``exclude``."""
    return sorted(
        p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in exclude
    )


def load_image(path: Path, size: int = DEFAULT_SIZE, resize: int = DEFAULT_RESIZE) -> torch.Tensor:
    """Decode one image as RGB, resize its shorter side to ``resize``, centre-crop ``size``: uint8 (3, size, size)."""
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
    except Exception as exc:  # UnidentifiedImageError, truncated files (OSError), decompression bombs, ...
        raise DataError(
            f"cannot decode the image {path} ({type(exc).__name__}: {exc}); delete or replace the file"
        ) from None
    rgb = F.resize(rgb, [resize], interpolation=InterpolationMode.BILINEAR, antialias=True)
    rgb = F.center_crop(rgb, [size, size])
    return F.pil_to_tensor(rgb)


def decode_images(
    files: Sequence[Path],
    size: int = DEFAULT_SIZE,
    resize: int = DEFAULT_RESIZE,
    desc: str = "decoding images",
    workers: int | None = None,
) -> torch.Tensor:
    """Decode ``files`` with :func:`load_image` on a thread pool into one uint8 tensor (N, 3, size, size)."""
    from tqdm.auto import tqdm

    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    if not files:
        return out

    def work(i: int) -> None:
        out[i] = load_image(files[i], size, resize)

    workers = workers or min(8, os.cpu_count() or 1)
    with tqdm(total=len(files), desc=desc, unit="img", disable=len(files) < PROGRESS_MIN_IMAGES, leave=False) as bar:
        if workers <= 1:
            for i in range(len(files)):
                work(i)
                bar.update()
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(work, range(len(files))):
                    bar.update()
    return out


# --------------------------------------------------------------------------------------------- Caltech-101

CALTECH101_FOLDER = Path("caltech101") / "101_ObjectCategories"
CALTECH101_BACKGROUND = "BACKGROUND_Google"
#: Caltech-101 has no official train/test split: per class, this fraction of the images goes to "test".
CALTECH101_TEST_FRACTION = 0.2
#: Seed of the split; each class's permutation uses ``CALTECH101_SPLIT_SEED + crc32(class name)``.
CALTECH101_SPLIT_SEED = 0


def caltech101_split(
    base: Path, expected_classes: int | None = 101
) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """The deterministic Caltech-101 train/test split of the images under ``base`` (``.../101_ObjectCategories``).

    For each class (sorted folder names, ``BACKGROUND_Google`` left out) the files, sorted by name, are permuted
    by a ``torch.Generator`` seeded with ``CALTECH101_SPLIT_SEED + crc32(class name)``; the first
    ``round(CALTECH101_TEST_FRACTION * n)`` of them (at least 1 and at most n - 1 when n >= 2) form the test split,
    the rest the train split.  Seeding per class makes a class's split independent of which other folders exist.
    Train and test never share a file.  Returns (class names, {"train": [(path, label)], "test": [...]}).
    """
    classes = list_classes(base, exclude=(CALTECH101_BACKGROUND,))
    if expected_classes is not None and len(classes) != expected_classes:
        raise DataError(
            f"caltech101: found {len(classes)} class folders in {base} but expected {expected_classes}; the copy is "
            f"incomplete, unpack 101_ObjectCategories.tar.gz there again"
        )
    out: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for label, name in enumerate(classes):
        files = list_images(base / name)
        n = len(files)
        n_test = min(max(round(CALTECH101_TEST_FRACTION * n), 1), n - 1) if n >= 2 else 0
        gen = torch.Generator().manual_seed(CALTECH101_SPLIT_SEED + zlib.crc32(name.encode()))
        order = torch.randperm(n, generator=gen).tolist()
        test_idx = set(order[:n_test])
        for i, f in enumerate(files):
            out["test" if i in test_idx else "train"].append((f, label))
    return classes, out


def read_caltech101(
    root: Path,
    split: str,
    download: bool = False,
    *,
    size: int = DEFAULT_SIZE,
    resize: int = DEFAULT_RESIZE,
    expected_classes: int | None = 101,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Caltech-101 (Fei-Fei et al., 2004): 101 object classes, split 80/20 per class by :func:`caltech101_split`."""
    check_split("caltech101", split)
    root = Path(root).expanduser()
    base = root / CALTECH101_FOLDER
    if not base.is_dir() and download:
        import torchvision.datasets as tvd

        run_download("caltech101", "data.caltech.edu", str(base), lambda: tvd.Caltech101(str(root), download=True))
    if not base.is_dir():
        raise DataError(
            f"caltech101 not found: expected the folder {base} with one sub-folder of .jpg images per class (the "
            f"unpacked 101_ObjectCategories.tar.gz); copy it there, or set download=true where the network allows"
        )
    _, files = caltech101_split(base, expected_classes)
    chosen = files[split]
    if not chosen:
        raise DataError(f"caltech101: no images found under {base}; copy the class folders with their .jpg files")
    images = decode_images([f for f, _ in chosen], size, resize, desc=f"caltech101 {split}")
    labels = torch.tensor([lab for _, lab in chosen], dtype=torch.int64)
    return images, labels


# --------------------------------------------------------------------------------------------- Imagenette

#: Accepted folder names, in order of preference (full size first, then the fast.ai down-scaled versions).
IMAGENETTE_FOLDERS = ("imagenette2", "imagenette2-320", "imagenette2-160")
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2.tgz"
IMAGENETTE_MD5 = "fe2fc210e6bb7c5664d602c3cd71e612"
IMAGENETTE_SPLIT_FOLDERS = {"train": "train", "test": "val"}


def find_imagenette(root: Path) -> Path | None:
    """The first of ``root/imagenette2``, ``-320``, ``-160`` that holds both ``train/`` and ``val/``, if any."""
    for name in IMAGENETTE_FOLDERS:
        if (root / name / "train").is_dir() and (root / name / "val").is_dir():
            return root / name
    return None


def read_imagenette(
    root: Path,
    split: str,
    download: bool = False,
    *,
    size: int = DEFAULT_SIZE,
    resize: int = DEFAULT_RESIZE,
    expected_classes: int | None = 10,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagenette (fast.ai): 10 easy ImageNet classes; split "test" reads the official "val" folder."""
    check_split("imagenette", split)
    root = Path(root).expanduser()
    base = find_imagenette(root)
    if base is None and download:
        download_archive("imagenette", IMAGENETTE_URL, IMAGENETTE_MD5, root, str(root / IMAGENETTE_FOLDERS[0]))
        base = find_imagenette(root)
    if base is None:
        raise DataError(
            f"imagenette not found: expected {root / IMAGENETTE_FOLDERS[0]} (or imagenette2-320 / imagenette2-160) "
            f"with train/ and val/ folders of one sub-folder per class; unpack {IMAGENETTE_URL} into {root}, or set "
            f"download=true where the network allows"
        )
    folder = base / IMAGENETTE_SPLIT_FOLDERS[split]
    classes = list_classes(folder)
    if expected_classes is not None and len(classes) != expected_classes:
        raise DataError(
            f"imagenette: found {len(classes)} class folders in {folder} but expected {expected_classes}; the copy "
            f"is incomplete, unpack the archive again"
        )
    chosen = [(f, label) for label, name in enumerate(classes) for f in list_images(folder / name)]
    if not chosen:
        raise DataError(f"imagenette: no images found under {folder}; copy the class folders with their images")
    images = decode_images([f for f, _ in chosen], size, resize, desc=f"imagenette {split}")
    labels = torch.tensor([lab for _, lab in chosen], dtype=torch.int64)
    return images, labels


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

CALTECH101 = register_dataset(
    DatasetSpec(
        name="caltech101",
        in_channels=3,
        num_classes=101,
        image_size=DEFAULT_SIZE,
        reader=read_caltech101,
        crop_source_size=DEFAULT_RESIZE,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        layout_hint=f"<root>/{CALTECH101_FOLDER.as_posix()}/<class>/*.jpg (the unpacked 101_ObjectCategories.tar.gz;"
        f" {CALTECH101_BACKGROUND} is ignored; a seeded 80/20 split per class is made for you)",
    )
)

IMAGENETTE = register_dataset(
    DatasetSpec(
        name="imagenette",
        in_channels=3,
        num_classes=10,
        image_size=DEFAULT_SIZE,
        reader=read_imagenette,
        crop_source_size=DEFAULT_RESIZE,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        layout_hint="<root>/imagenette2/{train,val}/<wnid>/*.JPEG (imagenette2-320 or imagenette2-160 also work; "
        "split test reads val)",
    )
)
