"""Run several optimizers on the linear model from the same start and collect their trajectories."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np

from robustopt.errors import ConfigError
from robustopt.theory.data_model import PAPER_BATCH_SIZE, PAPER_LR, PAPER_STEPS, PAPER_W0_TILDE, FrequencyLinearModel
from robustopt.theory.gradients import make_oracle
from robustopt.theory.optimizers import THEORY_OPTIMIZERS
from robustopt.theory.risks import adversarial_risk, standard_risk


def record_steps(n_steps: int, points: int = 500, spacing: str = "log") -> np.ndarray:
    """Step counts at which to record the weights: always 0 and ``n_steps``.

    ``spacing="log"``: about ``points`` counts log-spaced in ``[1, n_steps]`` (dense early, where
    the dynamics happen, for log-time plots); ``"linear"``: every ``ceil(n_steps / points)``-th step;
    ``"all"``: every step.
    """
    if n_steps < 0 or int(n_steps) != n_steps:
        raise ConfigError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    n_steps = int(n_steps)
    if spacing == "all" or n_steps == 0:
        return np.arange(n_steps + 1)
    if points < 2:
        raise ConfigError(f"record points must be at least 2, got {points}")
    if spacing == "log":
        inner = np.round(np.geomspace(1, n_steps, int(points))).astype(np.int64)
    elif spacing == "linear":
        inner = np.arange(0, n_steps + 1, max(1, int(np.ceil(n_steps / points))))
    else:
        raise ConfigError(f"unknown record spacing '{spacing}'; use 'log', 'linear' or 'all'")
    return np.unique(np.concatenate([[0], inner, [n_steps]]))


@dataclass
class SimulationResult:
    """Trajectories of several optimizers on one :class:`FrequencyLinearModel`.

    ``weights_tilde[name]`` is an ``(len(steps), d)`` array of frequency-domain weights after
    ``steps[j]`` steps; the risk helpers evaluate the closed forms along it.
    """

    model: FrequencyLinearModel
    w0_tilde: np.ndarray
    lr: float
    n_steps: int
    gradient: str
    steps: np.ndarray
    weights_tilde: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def optimizers(self) -> list[str]:
        """Names of the simulated optimizers, in run order."""
        return list(self.weights_tilde)

    def error_tilde(self, name: str) -> np.ndarray:
        """Per-frequency absolute weight error ``|w_tilde(t) - w_star_tilde|``, shape ``(T, d)``."""
        return np.abs(self.weights_tilde[name] - self.model.w_star_tilde)

    def standard_risk(self, name: str) -> np.ndarray:
        """Standard risk ``S(t)/2`` along the trajectory, shape ``(T,)``."""
        m = self.model
        return standard_risk(self.weights_tilde[name], m.w_star_tilde, m.sigma_tilde, m.noise_std)

    def adversarial_risk(self, name: str, eps: float) -> np.ndarray:
        """L2 adversarial risk at radius ``eps`` along the trajectory, shape ``(T,)``."""
        m = self.model
        return adversarial_risk(self.weights_tilde[name], m.w_star_tilde, m.sigma_tilde, eps, m.noise_std)

    def weight_norm(self, name: str) -> np.ndarray:
        """``||w(t)||_2`` (the same in pixel and frequency coordinates), shape ``(T,)``."""
        return np.linalg.norm(self.weights_tilde[name], axis=-1)

    def final(self, eps_list: Iterable[float] = (np.sqrt(2.0),)) -> dict[str, dict]:
        """Final numbers per optimizer: weights, per-frequency error, risks, norm, seconds."""
        out = {}
        for name in self.optimizers:
            out[name] = {
                "w_tilde": self.weights_tilde[name][-1],
                "abs_error_tilde": self.error_tilde(name)[-1],
                "weight_norm": float(self.weight_norm(name)[-1]),
                "standard_risk": float(self.standard_risk(name)[-1]),
                "adversarial_risk": {f"{e:.6g}": float(self.adversarial_risk(name, e)[-1]) for e in eps_list},
                "seconds": self.seconds.get(name),
            }
        return out

    def to_dict(self, eps_list: Iterable[float] = (np.sqrt(2.0),)) -> dict:
        """A JSON-ready record: the setting, the recorded steps and, per optimizer, the trajectories."""
        eps_list = [float(e) for e in eps_list]
        m = self.model
        return {
            "model": {"sigma_tilde": m.sigma_tilde, "w_star_tilde": m.w_star_tilde, "noise_std": m.noise_std},
            "w0_tilde": self.w0_tilde,
            "lr": self.lr,
            "n_steps": self.n_steps,
            "gradient": self.gradient,
            "settings": self.settings,
            "eps": eps_list,
            "steps": self.steps,
            "optimizers": {
                name: {
                    "w_tilde": self.weights_tilde[name],
                    "abs_error_tilde": self.error_tilde(name),
                    "standard_risk": self.standard_risk(name),
                    "adversarial_risk": {f"{e:.6g}": self.adversarial_risk(name, e) for e in eps_list},
                    "weight_norm": self.weight_norm(name),
                    "seconds": self.seconds.get(name),
                }
                for name in self.optimizers
            },
        }


def simulate(
    model: FrequencyLinearModel | None = None,
    w0_tilde=PAPER_W0_TILDE,
    *,
    optimizers: Iterable[str] | Mapping[str, dict] = ("gd", "signgd", "adam", "rmsprop"),
    lr: float = PAPER_LR,
    n_steps: int = PAPER_STEPS,
    gradient: str = "population",
    batch_size: int = PAPER_BATCH_SIZE,
    seed: int = 0,
    sampler: str = "wishart",
    record_at=None,
    progress: Callable[[str, float], None] | None = None,
) -> SimulationResult:
    """Train the linear model with each optimizer from ``w0_tilde`` and return the trajectories.

    Args:
        model: the data model (default: the paper's instance, :meth:`FrequencyLinearModel.paper`).
        w0_tilde: initial frequency-domain weights, shared by all optimizers.
        optimizers: names from :data:`~robustopt.theory.optimizers.THEORY_OPTIMIZERS`, or a mapping
            name -> hyper-parameters (e.g. ``{"adam": {"betas": (0.9, 0.999)}}``).
        lr: learning rate of every optimizer (1e-2 in the paper).
        n_steps: number of steps (200,001 in the paper).
        gradient: ``"population"`` (exact expected gradient) or ``"sampled"`` (a fresh batch of
            ``batch_size`` samples per step, drawn by a ``numpy.random.Generator`` seeded with
            ``seed``; every optimizer sees the same batch sequence).
        sampler: how sampled batches are drawn (``"wishart"`` or ``"explicit"``, see
            :class:`~robustopt.theory.gradients.SampledGradient`).
        record_at: step counts to record (default :func:`record_steps` ``(n_steps)``, log-spaced).
        progress: called as ``progress(name, seconds)`` after each optimizer finishes.
    """
    model = model if model is not None else FrequencyLinearModel.paper()
    w0_tilde = np.asarray(w0_tilde, dtype=np.float64)
    if w0_tilde.shape != (model.d,):
        raise ConfigError(f"w0_tilde must have d = {model.d} entries, got {w0_tilde.tolist()}")
    hparams = dict(optimizers) if isinstance(optimizers, Mapping) else {name: {} for name in optimizers}
    if not hparams:
        raise ConfigError("give at least one optimizer to simulate")
    runners = {name: THEORY_OPTIMIZERS.get(name) for name in hparams}  # fail fast on unknown names
    steps = record_steps(n_steps) if record_at is None else np.asarray(record_at, dtype=np.int64)
    w0 = model.dct.T @ w0_tilde
    result = SimulationResult(
        model=model,
        w0_tilde=w0_tilde,
        lr=float(lr),
        n_steps=int(n_steps),
        gradient=gradient,
        steps=steps,
        settings={"batch_size": batch_size, "seed": seed, "sampler": sampler, "hparams": hparams}
        if gradient == "sampled"
        else {"hparams": hparams},
    )
    for name, runner in runners.items():
        oracle = make_oracle(model, gradient, batch_size=batch_size, seed=seed, sampler=sampler)
        start = time.perf_counter()
        weights = runner(w0, oracle, lr=lr, n_steps=n_steps, record_at=steps, **(hparams[name] or {}))
        result.seconds[name] = time.perf_counter() - start
        result.weights_tilde[name] = weights @ model.dct.T  # rows: w_tilde = D w
        if progress is not None:
            progress(name, result.seconds[name])
    return result
