"""The paper's eps grids per data set (Ma, Pan & Farahmand, TMLR 2023, robustness tables).

Used by the ``robust_accuracy`` evaluation whenever its config leaves a grid empty.
"""

from __future__ import annotations

from robustopt.attacks.norms import canonical_norm
from robustopt.data.registry import canonical_dataset_name
from robustopt.errors import ConfigError

_CIFAR_LIKE = {"l2": (0.1, 0.2, 0.3), "linf": (1 / 255, 2 / 255, 4 / 255)}
_LARGE_IMAGES = {"l2": (0.5, 1.0, 1.5), "linf": (1 / 255, 2 / 255, 4 / 255)}

PAPER_EPS_GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "mnist": {"l2": (0.5, 0.7, 1.0), "linf": (0.05, 0.07, 0.1)},
    "fashion_mnist": {"l2": (0.1, 0.5, 0.7), "linf": (0.01, 0.03, 0.05)},
    "cifar10": _CIFAR_LIKE,
    "cifar100": _CIFAR_LIKE,
    "svhn": _CIFAR_LIKE,
    "caltech101": _LARGE_IMAGES,
    "imagenette": _LARGE_IMAGES,
    # Not in the paper: a small grid for the synthetic smoke-test data set.
    "synthetic": {"l2": (0.1, 0.25, 0.5), "linf": (0.01, 0.03, 0.05)},
}


def default_eps_grid(dataset: str, norm: str) -> list[float]:
    """The paper's eps grid for ``dataset`` under ``norm`` (``'linf'`` / ``'l2'``)."""
    key = canonical_dataset_name(dataset)
    norm = canonical_norm(norm)
    if key not in PAPER_EPS_GRIDS:
        raise ConfigError(
            f"no default {norm} eps grid for data set '{dataset}' (known: {', '.join(PAPER_EPS_GRIDS)}); "
            f"set eval.robust_accuracy.eps.{norm}=[...] explicitly"
        )
    return list(PAPER_EPS_GRIDS[key][norm])
