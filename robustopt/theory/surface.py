"""The adversarial-risk ratio (adaptive / GD) over eps and the irrelevant frequency's variance."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import numpy as np

from robustopt.errors import ConfigError
from robustopt.theory.data_model import PAPER_LR, PAPER_STEPS, PAPER_W0_TILDE, FrequencyLinearModel
from robustopt.theory.risks import adversarial_risk
from robustopt.theory.simulate import simulate


def risk_ratio_surface(
    model: FrequencyLinearModel | None = None,
    w0_tilde=PAPER_W0_TILDE,
    *,
    irrelevant_index: int | list[int] = 2,
    variances: Iterable[float] = (0.0, 1e-5, 3e-5, 1e-4, 1e-3),
    eps: Iterable[float] = tuple(np.linspace(0.1, 2.0, 9)),
    adaptive: Iterable[str] | Mapping[str, dict] = ("signgd", "adam"),
    reference: str = "gd",
    lr: float = PAPER_LR,
    n_steps: int = PAPER_STEPS,
    gradient: str = "population",
    progress: Callable[[str], None] | None = None,
    **simulate_kwargs,
) -> dict:
    """Ratio ``R_a(adaptive) / R_a(reference)`` of final adversarial risks on a grid.

    For each input variance ``v`` of the frequencies ``irrelevant_index`` (0 = truly irrelevant,
    small = low energy), every optimizer trains for ``n_steps`` from ``w0_tilde``; the final
    weights then give the closed-form adversarial risk at every ``eps`` (no re-training per eps).

    Returns a JSON-ready dict with ``variances``, ``eps``, ``final_w_tilde[opt]`` (one row per
    variance) and ``ratio[opt]`` of shape ``(len(variances), len(eps))`` per adaptive optimizer.
    """
    model = model if model is not None else FrequencyLinearModel.paper()
    variances = [float(v) for v in variances]
    eps = np.asarray(list(eps), dtype=np.float64)
    if not variances or eps.size == 0:
        raise ConfigError("the risk-ratio surface needs at least one variance and one eps")
    if any(v < 0 for v in variances):
        raise ConfigError(f"variances must be non-negative, got {variances}")
    adaptive = dict(adaptive) if isinstance(adaptive, Mapping) else {name: {} for name in adaptive}
    if reference in adaptive:
        raise ConfigError(f"the reference optimizer '{reference}' is also listed as adaptive; list it once")
    optimizers = {reference: {}, **adaptive}
    finals = {name: [] for name in optimizers}
    for v in variances:
        m = model.with_sigma(irrelevant_index, np.sqrt(v))
        res = simulate(
            m,
            w0_tilde,
            optimizers=optimizers,
            lr=lr,
            n_steps=n_steps,
            gradient=gradient,
            record_at=[0, n_steps],
            **simulate_kwargs,
        )
        for name in optimizers:
            finals[name].append(res.weights_tilde[name][-1])
        if progress is not None:
            progress(f"variance {v:g}: " + ", ".join(f"{k} {s:.1f}s" for k, s in res.seconds.items()))

    def risks(name: str) -> np.ndarray:  # (n_var, n_eps)
        rows = []
        for v, w in zip(variances, finals[name]):
            m = model.with_sigma(irrelevant_index, np.sqrt(v))
            rows.append(adversarial_risk(w, m.w_star_tilde, m.sigma_tilde, eps, m.noise_std))
        return np.asarray(rows)

    ref = risks(reference)
    return {
        "variances": variances,
        "eps": eps,
        "irrelevant_index": irrelevant_index,
        "reference": reference,
        "lr": lr,
        "n_steps": n_steps,
        "gradient": gradient,
        "final_w_tilde": {name: np.asarray(rows) for name, rows in finals.items()},
        "adversarial_risk": {name: risks(name) for name in optimizers},
        "ratio": {name: risks(name) / ref for name in adaptive},
    }
