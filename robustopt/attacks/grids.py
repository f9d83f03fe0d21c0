"""The paper's eps grids per data set (Ma, Pan & Farahmand, TMLR 2023, robustness tables; the numbers live in
:mod:`robustopt.paper`).

Used by the ``robust_accuracy`` evaluation whenever its config leaves a grid empty.
"""

from __future__ import annotations

from robustopt.attacks.norms import canonical_norm
from robustopt.data.registry import canonical_dataset_name
from robustopt.errors import ConfigError
from robustopt.paper import EPS_GRIDS

#: The paper's ε grids (:data:`robustopt.paper.EPS_GRIDS`).
PAPER_EPS_GRIDS: dict[str, dict[str, tuple[float, ...]]] = EPS_GRIDS


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
