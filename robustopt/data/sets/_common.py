"""Small helpers shared by the data-set readers: split checks, downloads, label checks."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from robustopt.errors import ConfigError, DataError

SPLITS = ("train", "test")


def check_split(name: str, split: str, allowed: tuple[str, ...] = SPLITS) -> None:
    """Raise :class:`ConfigError` unless ``split`` is one of ``allowed``."""
    if split not in allowed:
        raise ConfigError(f"unknown split '{split}' for data set '{name}'; use one of: {', '.join(allowed)}")


def run_download(name: str, source: str, hint: str, fetch: Callable[[], object]) -> None:
    """Run ``fetch()`` (a torchvision download) and turn any failure into a one-sentence :class:`DataError`."""
    try:
        fetch()
    except Exception as exc:  # network, md5 mismatch, disk full, broken archive: all end the same way
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(
            f"downloading {name} from {source} failed ({reason}); check the network or put the files at {hint}"
        ) from None


def download_archive(name: str, url: str, md5: str, download_root: Path, hint: str) -> None:
    """Download ``url`` into ``download_root``, verify ``md5`` and unpack it there."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_root.mkdir(parents=True, exist_ok=True)
    run_download(name, url, hint, lambda: download_and_extract_archive(url, str(download_root), md5=md5))


def download_file(name: str, url: str, md5: str, folder: Path, filename: str, hint: str) -> None:
    """Download one file ``url`` to ``folder/filename`` and verify ``md5``."""
    from torchvision.datasets.utils import download_url

    folder.mkdir(parents=True, exist_ok=True)
    run_download(name, url, hint, lambda: download_url(url, str(folder), filename=filename, md5=md5))


def check_labels(name: str, source: Path | str, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Return ``labels`` as a contiguous int64 vector after checking they lie in ``[0, num_classes)``."""
    labels = labels.reshape(-1).to(torch.int64).contiguous()
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise DataError(
            f"{name}: {source} holds labels in [{int(labels.min())}, {int(labels.max())}] but the data set has "
            f"{num_classes} classes; the file is corrupt or belongs to another data set, replace it"
        )
    return labels
