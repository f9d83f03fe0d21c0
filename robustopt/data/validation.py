"""A validation split carved from the training set, for choosing hyper-parameters without the test set."""

from __future__ import annotations

import torch

from robustopt.errors import ConfigError


def split_validation(x: torch.Tensor, y: torch.Tensor, size: int, seed: int):
    """Hold out ``size`` training examples, class-stratified, chosen by ``seed`` alone.

    Each class gives its share of ``size`` (proportional to its count; the rounding remainders go to the classes
    with the largest fractional parts, ties to the smaller label), drawn by a ``torch.Generator`` seeded with
    ``seed``.  Returns ``((x_train, y_train), (x_val, y_val))``: the remaining training examples in their original
    order, and the held-out ones in increasing index order.  The global RNG is not touched.
    """
    n = int(y.shape[0])
    size = int(size)
    if not 0 < size < n:
        raise ConfigError(
            f"dataset.validation_size must be between 1 and the number of training images - 1 ({n - 1}), "
            f"got {size}; lower it, or set it to null for no validation split"
        )
    gen = torch.Generator().manual_seed(int(seed))
    classes, counts = torch.unique(y, return_counts=True)
    exact = counts.double() * size / n
    take = exact.floor().long()
    remainder = size - int(take.sum())
    if remainder:
        order = sorted(range(len(classes)), key=lambda i: (-(exact[i] - take[i]).item(), classes[i].item()))
        for i in order[:remainder]:
            take[i] += 1
    held = torch.zeros(n, dtype=torch.bool)
    for c, k in zip(classes.tolist(), take.tolist()):
        members = torch.nonzero(y == c).flatten()
        held[members[torch.randperm(len(members), generator=gen)[:k]]] = True
    return (x[~held], y[~held]), (x[held], y[held])
