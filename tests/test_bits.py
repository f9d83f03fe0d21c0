"""Per-image outcome masks round-trip through their JSON string form."""

import numpy as np
import pytest
import torch

from robustopt.bits import decode_mask, encode_mask, is_encoded_mask


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000, 10000])
def test_round_trip(n):
    rng = np.random.default_rng(n)
    mask = rng.random(n) < 0.7
    text = encode_mask(torch.from_numpy(mask))
    assert is_encoded_mask(text) and text.startswith(f"bits:{n}:")
    assert np.array_equal(decode_mask(text), mask)
    assert np.array_equal(decode_mask(encode_mask(mask.tolist())), mask)


def test_compact_and_rejects_garbage():
    assert len(encode_mask(np.ones(1000, bool))) < 200
    for bad in ["", "bits:3", "bits:100:AAAA", "nope:8:AA==", "bits:x:AA=="]:
        with pytest.raises(ValueError):
            decode_mask(bad)
    with pytest.raises(ValueError):
        encode_mask(np.ones((2, 2), bool))
