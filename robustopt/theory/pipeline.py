"""Run the linear-theory experiment from a plain config dict and record it in a run directory.

Writes (atomically) into ``run_dir``: ``config.yaml``, ``meta.json`` (status), ``metrics.jsonl``
(one line per recorded step: every optimizer's risks, norm and per-frequency error),
``trajectories_<gradient>.json`` (the full :meth:`SimulationResult.to_dict`), ``surface.json``
(the adversarial-risk ratio grid) and ``summary.json`` (final numbers per gradient mode and
optimizer, GD's closed form and limit).  ``paper_figures/linear_theory.py`` draws from these files.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from robustopt.errors import ConfigError
from robustopt.io import atomic_write_json
from robustopt.logger import NullLogger
from robustopt.meta import run_meta
from robustopt.rundir import RunDir
from robustopt.theory.data_model import FrequencyLinearModel
from robustopt.theory.risks import adversarial_risk, gd_closed_form, gd_limit, standard_risk
from robustopt.theory.simulate import SimulationResult, record_steps, simulate
from robustopt.theory.surface import risk_ratio_surface

log = logging.getLogger(__name__)


def eps_key(eps: float) -> str:
    """The key under which results at radius ``eps`` are stored (``f"{eps:.6g}"``, e.g. ``"1.41421"``)."""
    return f"{float(eps):.6g}"


def _metric_rows(results: dict[str, SimulationResult], eps_list: list[float]) -> list[dict]:
    """One row per recorded step, merging every gradient mode (they share the step grid)."""
    rows: dict[int, dict] = {}
    for mode, res in results.items():
        for name in res.optimizers:
            series = {
                "standard_risk": res.standard_risk(name),
                "weight_norm": res.weight_norm(name),
                **{f"adversarial_risk@{eps_key(e)}": res.adversarial_risk(name, e) for e in eps_list},
            }
            err = res.error_tilde(name)
            for j, step in enumerate(res.steps.tolist()):
                row = rows.setdefault(step, {"step": step})
                for key, values in series.items():
                    row[f"{mode}/{name}/{key}"] = float(values[j])
                for i in range(err.shape[1]):
                    row[f"{mode}/{name}/abs_error_tilde_{i}"] = float(err[j, i])
    return [rows[s] for s in sorted(rows)]


@dataclass
class _Problem:
    """What a linear-theory config asks for: the data model, the start, the optimizers and the recorded steps."""

    model: FrequencyLinearModel
    w0_tilde: np.ndarray
    n_steps: int
    lr: float
    eps_list: list[float]
    optimizers: dict[str, dict]
    gradients: list[str]
    steps: np.ndarray


def _problem(cfg: dict) -> _Problem:
    data = cfg["data"]
    model = FrequencyLinearModel(
        np.asarray(data["sigma_tilde"]), np.asarray(data["w_star_tilde"]), float(data.get("noise_std", 0.0))
    )
    w0_tilde = np.asarray(cfg["w0_tilde"], dtype=np.float64)
    n_steps, lr = int(cfg["n_steps"]), float(cfg["lr"])
    eps_list = [float(e) for e in cfg["eps"]]
    if not eps_list:
        raise ConfigError("eps must list at least one perturbation radius, e.g. eps=[1.4142]")
    optimizers = {name: dict(h or {}) for name, h in (cfg.get("optimizers") or {}).items()}
    gradients = list(cfg["gradients"])
    for mode in gradients:
        if mode not in ("population", "sampled"):
            raise ConfigError(f"unknown gradient mode '{mode}' in gradients; use population and/or sampled")
    steps = record_steps(n_steps, int(cfg["record"]["points"]), cfg["record"]["spacing"])
    return _Problem(model, w0_tilde, n_steps, lr, eps_list, optimizers, gradients, steps)


def run_linear_theory(
    cfg: dict,
    run_dir: str | Path,
    logger=None,
    echo: Callable[[str], None] = print,
) -> dict:
    """Simulate every configured optimizer and gradient mode, the risk-ratio surface, and record all.

    ``cfg`` is the plain dict of ``conf/linear_theory.yaml`` (schema: :class:`robustopt.cli.schema.LinearTheoryConfig`);
    ``logger`` a logger (:class:`robustopt.logger.NullLogger`'s methods; or None).  Returns the summary dict.
    """
    run = RunDir(run_dir)
    logger = logger or NullLogger()
    say = echo if cfg.get("progress", True) else (lambda _msg: None)
    problem = _problem(cfg)
    run.write_config(cfg)
    run.update_meta(
        **run_meta(torch.device("cpu"), seed=int(cfg["seed"])),
        status="running",
        wandb_id=getattr(logger, "run_id", None),
    )
    try:
        results = _simulate_all(problem, cfg, run, say)
        rows = _metric_rows(results, problem.eps_list)
        run.write_metrics(rows)
        for row in rows:
            logger.log_metrics(row, step=row["step"])
        summary = _risk_summary(problem, results)
        diverged = [
            f"{mode}/{name}"
            for mode, res in results.items()
            for name in res.optimizers
            if not np.all(np.isfinite(res.weights_tilde[name][-1]))
        ]
        sc = cfg.get("surface") or {}
        if sc.get("enabled", False):
            summary["surface"] = _surface(problem, cfg, sc, run, logger, say)
        status = "diverged" if diverged else "completed"
        summary["status"] = status
        if diverged:
            summary["diverged"] = diverged
        run.update_summary(summary)
        logger.log_summary(_flat_final(summary["final"]))
    except BaseException as exc:
        run.set_status("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    run.set_status(status)
    return run.summary()


def _simulate_all(problem: _Problem, cfg: dict, run: RunDir, say: Callable[[str], None]) -> dict[str, SimulationResult]:
    """Every gradient mode's simulation of every optimizer; each written as ``trajectories_<mode>.json``."""
    results: dict[str, SimulationResult] = {}
    for mode in problem.gradients:
        say(f"[{mode}] {problem.n_steps} steps, lr {problem.lr}: " + ", ".join(problem.optimizers))
        results[mode] = simulate(
            problem.model,
            problem.w0_tilde,
            optimizers=problem.optimizers,
            lr=problem.lr,
            n_steps=problem.n_steps,
            gradient=mode,
            batch_size=int(cfg["batch_size"]),
            seed=int(cfg["seed"]),
            sampler=cfg["sampler"],
            record_at=problem.steps,
            progress=lambda name, sec, mode=mode: say(f"  [{mode}] {name}: {sec:.1f}s"),
        )
        atomic_write_json(run.path / f"trajectories_{mode}.json", results[mode].to_dict(problem.eps_list))
    return results


def _risk_summary(problem: _Problem, results: dict[str, SimulationResult]) -> dict:
    """The final risks per gradient mode and optimizer, with GD's closed form after ``n_steps`` and its limit
    (``gd_limit`` None when GD does not converge at this learning rate)."""
    m, w0, lr, eps_list = problem.model, problem.w0_tilde, problem.lr, problem.eps_list
    closed = gd_closed_form(w0, m.w_star_tilde, m.sigma_tilde, lr, problem.n_steps)
    summary: dict = {
        "n_steps": problem.n_steps,
        "lr": lr,
        "eps": eps_list,
        "initial_standard_risk": float(standard_risk(w0, m.w_star_tilde, m.sigma_tilde, m.noise_std)),
        "final": {mode: res.final(eps_list) for mode, res in results.items()},
        "gd_closed_form": {
            "w_tilde": closed,
            "standard_risk": standard_risk(closed, m.w_star_tilde, m.sigma_tilde, m.noise_std),
            "adversarial_risk": {
                eps_key(e): adversarial_risk(closed, m.w_star_tilde, m.sigma_tilde, e, m.noise_std) for e in eps_list
            },
            "weight_norm": float(np.linalg.norm(closed)),
        },
    }
    try:
        limit = gd_limit(w0, m.w_star_tilde, m.sigma_tilde, lr)
        summary["gd_limit"] = {
            "w_tilde": limit,
            "adversarial_risk": {
                eps_key(e): adversarial_risk(limit, m.w_star_tilde, m.sigma_tilde, e, m.noise_std) for e in eps_list
            },
            "weight_norm": float(np.linalg.norm(limit)),
        }
    except ConfigError:
        summary["gd_limit"] = None  # GD does not converge at this lr
    return summary


def _surface(problem: _Problem, cfg: dict, sc: dict, run: RunDir, logger, say: Callable[[str], None]) -> dict:
    """The adversarial-risk ratio surface (``cfg["surface"]``, ``sc``), written as ``surface.json`` and logged as
    tables; its range per adaptive optimizer (the summary's ``surface``)."""
    adaptive = {name: problem.optimizers.get(name, {}) for name in sc["adaptive"]}
    sn = int(sc.get("n_steps") or problem.n_steps)
    say(
        f"[surface] variances {sc['variances']} x {len(sc['eps'])} eps, {sn} steps: {', '.join(adaptive)} vs "
        f"{sc['reference']}"
    )
    start = time.perf_counter()
    surface = risk_ratio_surface(
        problem.model,
        problem.w0_tilde,
        irrelevant_index=int(sc["irrelevant_index"]),
        variances=sc["variances"],
        eps=sc["eps"],
        adaptive=adaptive,
        reference=sc["reference"],
        lr=problem.lr,
        n_steps=sn,
        gradient=sc["gradient"],
        batch_size=int(cfg["batch_size"]),
        seed=int(cfg["seed"]),
        sampler=cfg["sampler"],
        progress=lambda msg: say(f"  [surface] {msg}"),
    )
    surface["seconds"] = time.perf_counter() - start
    atomic_write_json(run.path / "surface.json", surface)
    ranges = {
        name: {"min_ratio": float(np.min(r)), "max_ratio": float(np.max(r))} for name, r in surface["ratio"].items()
    }
    for name, ratio in surface["ratio"].items():
        table = [
            [v, float(e), float(ratio[i, j])]
            for i, v in enumerate(surface["variances"])
            for j, e in enumerate(surface["eps"])
        ]
        logger.log_table(f"surface/{name}", ["irrelevant_variance", "eps", "adversarial_risk_ratio"], table)
    return ranges


def _flat_final(final: dict) -> dict:
    """The summary's ``final`` as flat ``<mode>/<optimizer>/<quantity>`` keys (the logger's summary)."""
    flat = {}
    for mode, per_opt in final.items():
        for name, row in per_opt.items():
            flat[f"{mode}/{name}/standard_risk"] = row["standard_risk"]
            flat[f"{mode}/{name}/weight_norm"] = row["weight_norm"]
            for key, value in row["adversarial_risk"].items():
                flat[f"{mode}/{name}/adversarial_risk@{key}"] = value
    return flat


def headline(summary: dict, eps: float = math.sqrt(2.0)) -> str:
    """A few lines with each optimizer's final standard and adversarial risk and weight norm."""
    key = eps_key(eps)
    lines = []
    for mode, per_opt in summary.get("final", {}).items():
        for name, row in per_opt.items():
            adv = row["adversarial_risk"].get(key, float("nan"))
            lines.append(
                f"{mode:>10} {name:>8}: standard risk {row['standard_risk']:.3e}, adversarial risk@{key} {adv:.3f}, "
                f"||w|| {row['weight_norm']:.4f}"
            )
    cf = summary.get("gd_closed_form")
    if cf and key in cf["adversarial_risk"]:
        lines.append(
            f"GD closed form at {summary['n_steps']} steps: adversarial risk@{key} {cf['adversarial_risk'][key]:.4f}"
        )
    return "\n".join(lines)
