"""Load a whole split once and cache it as a tensor file next to the raw data."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from robustopt.data.registry import DATASETS, get_spec
from robustopt.errors import ConfigError, DataError
from robustopt.io import atomic_torch_save

log = logging.getLogger(__name__)

CACHE_VERSION = 1
CACHE_DIR = "robustopt_cache"


def raw_files(root: Path) -> dict[str, list[int]]:
    """The files under the data root ``root`` (the cache folder and hidden files left out), as
    ``{relative path: [size, mtime_ns]}``: what a cache file records of the raw data it was built from."""
    root = Path(root)
    found: dict[str, list[int]] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != CACHE_DIR and not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:
                continue
            found[str(path.relative_to(root))] = [int(st.st_size), int(st.st_mtime_ns)]
    return found


def changed_raw_files(root: Path, recorded: dict) -> list[str]:
    """The recorded raw files that are gone or differ in size or modification time (``name: what changed``)."""
    now = raw_files(root)
    changed = []
    for name, (size, mtime) in sorted(recorded.items()):
        if name not in now:
            changed.append(f"{name}: removed")
        elif now[name][0] != size:
            changed.append(f"{name}: {size} -> {now[name][0]} bytes")
        elif now[name][1] != mtime:
            changed.append(f"{name}: modified")
    return changed


def cache_path(root: Path, name: str, split: str, size: int | None = None) -> Path:
    tag = f"-{int(size)}px" if size is not None else ""
    return Path(root) / CACHE_DIR / f"{name}-{split}{tag}-v{CACHE_VERSION}.pt"


def load_split_uint8(
    name: str, root: str | Path, split: str, *, download: bool = False, use_cache: bool = True, size: int | None = None
):
    """The whole split as ``(images uint8 (N, C, H, W), labels int64 (N,))``.

    The first call reads the raw files (the data set's real format) and writes a cache file
    ``ROOT/robustopt_cache/NAME-SPLIT-v1.pt`` atomically, recording the size and modification time of every file
    under ``ROOT`` (:func:`raw_files`); later calls load that file while those files are unchanged.  A cache whose
    raw files changed (a truncated or replaced file), that records none (an older cache) or that is damaged is
    rebuilt from the raw data, which are then checked again by the reader.  ``size`` (readers that take a ``size``
    keyword, e.g. the image-folder sets) stores the images at ``size`` x ``size`` instead, in
    ``NAME-SPLIT-<size>px-v1.pt``.
    """
    spec = get_spec(name)
    if split not in spec.splits:
        raise DataError(f"data set '{name}' has no split '{split}'; its splits are: {', '.join(spec.splits)}")
    root = Path(root).expanduser()
    path = cache_path(root, name, split, size)
    if use_cache and spec.cacheable and path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            x, y, recorded = blob["x"], blob["y"], blob.get("raw_files")
        except Exception as exc:  # a damaged cache is derived data: rebuild it
            log.warning("cache file %s is unreadable (%s); rebuilding it from the raw files", path, exc)
        else:
            changed = (
                changed_raw_files(root, recorded)
                if recorded is not None
                else ["it records no raw files: built by an older robustopt"]
            )
            if not changed:
                return x, y
            more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
            log.warning(
                "the raw files of %s changed since its cache %s was built (%s%s); rebuilding it from them",
                name,
                path,
                changed[0],
                more,
            )
    x, y = spec.reader(root, split, download) if size is None else spec.reader(root, split, download, size=int(size))
    x = _check_images(name, x)
    y = torch.as_tensor(y, dtype=torch.long).contiguous()
    if x.shape[0] != y.shape[0]:
        raise DataError(
            f"data set '{name}' ({split}): {x.shape[0]} images but {y.shape[0]} labels; the files are inconsistent"
        )
    if use_cache and spec.cacheable:
        try:
            atomic_torch_save(path, {"x": x, "y": y, "raw_files": raw_files(root)})
        except OSError as exc:
            log.warning("could not write the cache file %s (%s); continuing without it", path, exc)
    return x, y


def load_configured_split(ds: dict, split: str, root: str | Path | None = None):
    """The uint8 split a data-set config (``conf/dataset/``) asks for: its ``name``, ``root`` (or ``root``
    given here), ``download`` flag, and the first ``train_subset`` / ``test_subset`` images when set.

    With ``random_resized_crop`` on, the training split is stored at the data set's ``crop_source_size``
    (:func:`crop_source_size`), the images the random crops are drawn from; the test split is unchanged.
    """
    size = crop_source_size(ds["name"]) if split == "train" and ds.get("random_resized_crop") else None
    x, y = load_split_uint8(ds["name"], root or ds["root"], split, download=bool(ds.get("download")), size=size)
    n = ds.get(f"{split}_subset")
    return (x[:n], y[:n]) if n else (x, y)


def check_data_root(
    root: str | Path,
    dataset: str,
    *,
    download: bool = False,
    create: bool = False,
    option: str = "paths.data_dir",
    create_hint: str = "create it with paths.create_data_dir=true (or dataset.download=true to download into it)",
) -> None:
    """A data root that does not exist is a mistake (a typo'd path) unless the user asked for it to be made
    (``dataset.download=true`` or ``paths.create_data_dir=true``); data sets that read no files need none.
    ``option`` and ``create_hint`` name the fix in the caller's terms (the CLI's ``paths.data_dir``, the front
    door's ``root=``)."""
    spec = get_spec(dataset)
    if not spec.cacheable or download or create or Path(root).expanduser().is_dir():
        return
    where = f" ({spec.layout_hint})" if spec.layout_hint else ""
    raise ConfigError(
        f"the data root {root} does not exist; point {option} at the folder holding the data set '{dataset}'{where}, "
        f"or {create_hint}"
    )


def crop_source_size(name: str) -> int:
    """Side of the stored training images of data set ``name`` under ``random_resized_crop`` (ConfigError if none)."""
    spec = get_spec(name)
    if spec.crop_source_size is None:
        offered = sorted(n for n in DATASETS.names() if DATASETS.get(n).crop_source_size is not None)
        raise ConfigError(
            f"data set '{name}' does not offer random_resized_crop (its images are stored at their final size); "
            f"remove it, or use one of: {', '.join(offered)}"
        )
    return int(spec.crop_source_size)


def _check_images(name: str, x: torch.Tensor) -> torch.Tensor:
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise DataError(
            f"the reader of '{name}' returned {x.dtype} {tuple(x.shape)}; readers must return uint8 (N, C, H, W)"
        )
    return x.contiguous()
