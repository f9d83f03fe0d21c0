"""Per-image outcomes (correct / wrong) stored compactly in JSON results.

Accuracies measured on the same test images are compared image by image (McNemar's exact test, in
:mod:`robustopt.stats`), so every evaluation that measures an accuracy also records which images
were classified correctly, as one short string per measurement::

    s = encode_mask(correct)            # 'bits:1000:...' (1000 images -> about 170 characters)
    correct = decode_mask(s)            # numpy bool array, shape (1000,)

The string is ``bits:<n>:<base64 of numpy.packbits(mask)>``: plain JSON, stable across versions.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

_PREFIX = "bits"


def encode_mask(mask: Any) -> str:
    """Encode a 1-D boolean mask (tensor, array or list) as ``bits:<n>:<base64>``."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.ndim != 1:
        raise ValueError(f"encode_mask takes a 1-D mask, got shape {arr.shape}")
    arr = arr.astype(bool)
    data = base64.b64encode(np.packbits(arr).tobytes()).decode("ascii")
    return f"{_PREFIX}:{arr.size}:{data}"


def decode_mask(text: str) -> np.ndarray:
    """The boolean mask that :func:`encode_mask` encoded."""
    try:
        prefix, n, data = str(text).split(":", 2)
        if prefix != _PREFIX:
            raise ValueError
        n = int(n)
        bits = np.unpackbits(np.frombuffer(base64.b64decode(data.encode("ascii"), validate=True), dtype=np.uint8))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an encoded mask (expected 'bits:<n>:<base64>'): {str(text)[:40]!r}") from exc
    if bits.size < n or bits.size - n >= 8:
        raise ValueError(f"encoded mask holds {bits.size} bits, which does not fit n={n}")
    return bits[:n].astype(bool)


def is_encoded_mask(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_PREFIX + ":")
