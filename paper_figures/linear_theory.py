"""Figures of the linear least-squares theory, drawn from a run directory of experiments/linear_theory.py.

Ma, Pan & Farahmand (TMLR 2023), Section 4 / Figure 5: on a linear model whose data have an irrelevant
frequency (zero variance), GD never moves that weight while sign-based and adaptive methods do, which leaves
them with the same (near-zero) standard risk but a larger adversarial risk.

    python paper_figures/linear_theory.py outputs/runs/linear_theory/default [--out DIR] [--eps 1.41421]

Reads ``summary.json``, ``trajectories_<gradient>.json`` and ``surface.json`` (never re-simulates)
and writes PNG + PDF figures and ``linear_theory.md`` (one caption per figure, :func:`captions`, computed from
the numbers) into ``DIR`` (default ``<run dir>/figures``).  The risk ratio over ε and the irrelevant frequency's
variance is a heat map, one cell per grid point: the variances are a few categories (0, 1e-5, ...), between which a
3-D surface would draw slopes that mean nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from paper_figures.claims import TOLERANCES
from paper_figures.style import OPTIMIZER_COLORS, color, figsize, label, linestyle, savefig, use_style
from robustopt.errors import CheckpointError
from robustopt.io import atomic_write_text, read_json
from robustopt.rundir import RunDir

MODE_TEXT = {"population": "exact (population) gradient", "sampled": "a fresh batch per step"}


def _key(eps: float) -> str:
    return f"{float(eps):.6g}"


def _eps_text(eps: float) -> str:
    return "√2" if abs(eps - math.sqrt(2)) < 1e-9 else f"{eps:g}"


def load(run_path: str | Path) -> dict:
    """The run's summary, trajectories per gradient mode and surface (None when absent)."""
    run = RunDir(run_path)
    summary = run.summary()
    if not summary:
        raise CheckpointError(
            f"{run.path} has no summary.json; run experiments/linear_theory.py first (or pass its run directory)"
        )
    traj = {}
    for path in sorted(run.path.glob("trajectories_*.json")):
        traj[path.stem.removeprefix("trajectories_")] = read_json(path)
    return {
        "summary": summary,
        "trajectories": traj,
        "surface": read_json(run.path / "surface.json"),
        "config": run.config(),
    }


def _ordered(per_optimizer: dict) -> list[tuple[str, object]]:
    """Items in the style's canonical optimizer order (GD first), unknown names last."""
    order = {name: i for i, name in enumerate(OPTIMIZER_COLORS)}
    return sorted(per_optimizer.items(), key=lambda kv: (order.get(kv[0].lower(), len(order)), kv[0]))


def _steps_mask(data: dict) -> tuple[np.ndarray, np.ndarray]:
    steps = np.asarray(data["steps"])
    keep = steps >= 1  # a log time axis cannot show step 0
    return steps[keep], keep


def weight_error_figure(data: dict):
    """|e_tilde_i(t)| per frequency (one panel each) for every optimizer, log time."""
    steps, keep = _steps_mask(data)
    sigma = np.asarray(data["model"]["sigma_tilde"])
    d = sigma.size
    ncols = min(d, 4)
    nrows = math.ceil(d / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(figsize(2)[0], 2.1 * nrows + 0.25), squeeze=False, sharex=True, layout="constrained"
    )
    for i in range(d):
        ax = axes.flat[i]
        for name, opt in _ordered(data["optimizers"]):
            err = np.asarray(opt["abs_error_tilde"], dtype=float)[keep, i]
            ax.plot(steps, err, color=color(name), ls=linestyle(name), label=label(name))
        kind = "irrelevant" if sigma[i] == 0 else ("low energy" if sigma[i] < 1e-2 else "relevant")
        ax.set_title(rf"frequency {i}: $\tilde\sigma_{i}$ = {sigma[i]:g} ({kind})")
        ax.set_xscale("log")
        ax.set_xlabel("training step t")
        ax.set_ylabel(rf"weight error $|\tilde e_{i}(t)|$")
    for ax in axes.flat[d:]:
        ax.remove()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels))
    return fig


def risks_figure(data: dict, summary: dict, eps: float):
    """Standard risk (log scale) and adversarial risk at ``eps`` over time, with final values in the legend."""
    steps, keep = _steps_mask(data)
    key = _key(eps)
    fig, (ax_s, ax_a) = plt.subplots(1, 2, figsize=(figsize(2)[0], 2.4), layout="constrained")
    floor = 1e-12
    for name, opt in _ordered(data["optimizers"]):
        std = np.maximum(np.asarray(opt["standard_risk"], dtype=float)[keep], floor)
        adv = np.asarray(opt["adversarial_risk"][key], dtype=float)[keep]
        ax_s.plot(steps, std, color=color(name), ls=linestyle(name), label=label(name))
        ax_a.plot(steps, adv, color=color(name), ls=linestyle(name), label=f"{label(name)} (final {adv[-1]:.1f})")
    limit = summary.get("gd_limit")
    if limit and key in limit["adversarial_risk"]:
        value = limit["adversarial_risk"][key]
        ax_a.axhline(value, color="0.4", ls=(0, (2, 2)), lw=0.9, label=f"GD limit t→∞ ({value:.1f})")
    ax_s.set_yscale("log")
    ax_s.set_ylabel(r"standard risk $\mathcal{R}_s = S/2$")
    ax_s.set_title(f"standard risk (values < {floor:g} drawn at {floor:g})")
    ax_a.set_ylabel(r"adversarial risk $\mathcal{R}_a$")
    ax_a.set_title(f"L2 adversarial risk at ε = {_eps_text(eps)}")
    for ax in (ax_s, ax_a):
        ax.set_xscale("log")
        ax.set_xlabel("training step t")
    box = {"frameon": True, "framealpha": 0.9, "edgecolor": "none"}  # lines behind the legend do not cross its text
    ax_s.legend(loc="lower left", **box)
    ax_a.legend(loc="upper left", **box)
    return fig


def weight_norm_figure(summary: dict, w_star_norm: float):
    """Final ||w||_2 per optimizer and gradient mode (dot plot), with ||w*||_2 for reference."""
    final = summary["final"]
    modes = list(final)
    names = [n for n, _ in _ordered({n: None for m in modes for n in final[m]})]
    fig, ax = plt.subplots(figsize=figsize(1, 0.7), layout="constrained")
    markers = {"population": "o", "sampled": "x"}
    offsets = np.linspace(-0.12, 0.12, len(modes)) if len(modes) > 1 else [0.0]
    for k, mode in enumerate(modes):
        for j, name in enumerate(names):
            if name in final[mode]:
                ax.plot(
                    final[mode][name]["weight_norm"],
                    j + offsets[k],
                    marker=markers.get(mode, "s"),
                    color=color(name),
                    ls="none",
                    ms=5,
                    mew=1.3,
                    label=mode if j == 0 else None,
                )
    ax.axvline(w_star_norm, color="0.4", ls=(0, (2, 2)), lw=0.9, label="‖w*‖ (min-norm solution)")
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    # the whole scale from 0: a truncated axis would blow up differences of a few percent
    norms = [final[m][n]["weight_norm"] for m in modes for n in final[m]] + [w_star_norm]
    ax.set_xlim(0, 1.08 * max(norms))
    ax.set_xlabel("final weight norm ‖w‖₂ (axis from 0)")
    ax.set_title(f"weight norm after {summary['n_steps']:,} steps")
    handles, labels = ax.get_legend_handles_labels()
    leg = fig.legend(handles, labels, loc="outside lower center", ncol=3, columnspacing=0.8, handletextpad=0.3)
    for h in leg.legend_handles:
        if hasattr(h, "set_color") and h.get_label() in markers:
            h.set_color("0.2")
    return fig


def _variance_labels(variances) -> list[str]:
    return ["0" if v == 0 else f"{v:.0e}".replace("e-0", "e-") for v in variances]


def ratio_heatmap_figure(surface: dict):
    """Heat map of R_a(adaptive) / R_a(GD) over eps (x) and the irrelevant frequency's variance (y)."""
    names = [n for n, _ in _ordered(surface["ratio"])]
    eps = np.asarray(surface["eps"], dtype=float)
    var_labels = _variance_labels(surface["variances"])
    ratios = {n: np.asarray(surface["ratio"][n], dtype=float) for n in names}
    vmin = min(r.min() for r in ratios.values())
    vmax = max(r.max() for r in ratios.values())
    width = figsize(2)[0] if len(names) > 1 else figsize(1)[0] * 1.3
    fig, axes = plt.subplots(1, len(names), figsize=(width, 2.6), squeeze=False, layout="constrained")
    fmt = "{:.3f}" if vmax - vmin < 0.5 else "{:.2f}"
    for k, (ax, name) in enumerate(zip(axes[0], names)):
        r = ratios[name]
        im = ax.imshow(r, aspect="auto", origin="lower", cmap="viridis", vmin=vmin, vmax=vmax)
        for i in range(r.shape[0]):
            for j in range(r.shape[1]):
                shade = (r[i, j] - vmin) / (vmax - vmin + 1e-12)
                ax.text(
                    j, i, fmt.format(r[i, j]), ha="center", va="center", fontsize=5.5, color="k" if shade > 0.6 else "w"
                )
        ax.set_xticks(range(eps.size), [f"{e:g}" for e in eps])
        ax.set_yticks(range(len(var_labels)), var_labels)
        ax.tick_params(axis="y", labelleft=k == 0)  # the panels share the variances: named on the first
        ax.set_xlabel("perturbation radius ε (L2)")
        if k == 0:
            ax.set_ylabel(rf"variance $\tilde\sigma_{surface['irrelevant_index']}^2$ of the" + "\nirrelevant frequency")
        ax.set_title(f"{label(name)} / {label(surface['reference'])}")
        ax.grid(False)
    cbar = fig.colorbar(im, ax=axes[0].tolist(), shrink=0.95)
    cbar.set_label("adversarial-risk ratio")
    return fig


def _num(x: float) -> str:
    """A risk or weight for a caption: 4 significant digits, scientific below 1e-3."""
    x = float(x)
    return f"{x:.2g}" if x != 0 and abs(x) < 1e-3 else f"{x:.4g}"


def _names(names) -> str:
    names = [label(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _initial_standard_risk(data: dict) -> tuple[float | None, str]:
    """The standard risk of the initial weights: the summary's, else the trajectories' value at step 0."""
    value = data["summary"].get("initial_standard_risk")
    if value is not None:
        return float(value), ""
    for traj in data["trajectories"].values():
        if traj["steps"] and int(traj["steps"][0]) == 0:
            first = next(iter(traj["optimizers"].values()))
            return float(first["standard_risk"][0]), " (from the trajectories' step 0)"
    return None, ""


def _risks_caption(data: dict, mode: str, eps: float) -> str:
    summary = data["summary"]
    finals = (summary.get("final") or {}).get(mode) or {}
    key = _key(eps)
    names = [n for n, _ in _ordered(finals)]
    how = MODE_TEXT.get(mode, mode)
    out = [
        f"Standard risk S/2 and L2 adversarial risk at ε = {_eps_text(eps)} over {summary.get('n_steps', '?'):,} "
        f"steps, {how}."
    ]
    out.append(
        "Final standard risk: " + ", ".join(f"{label(n)} {_num(finals[n]['standard_risk'])}" for n in names) + "."
    )
    initial, src = _initial_standard_risk(data)
    fraction = TOLERANCES["standard_risk_fraction"]
    if initial is not None and initial > 0:
        small = fraction * initial
        below = [n for n in names if finals[n]["standard_risk"] < small]
        above = [n for n in names if n not in below]
        verdict = (
            "every method is below it"
            if not above
            else ("none is below it" if not below else f"below it: {_names(below)}; not below it: {_names(above)}")
        )
        out.append(
            f"The initial standard risk is {_num(initial)}{src}; {fraction:g} of it is {_num(small)}, and {verdict}."
        )
    else:
        out.append("The initial standard risk is not recorded, so no standard risk is judged small.")
    adv = {n: finals[n]["adversarial_risk"].get(key) for n in names}
    out.append(
        "Final adversarial risk: " + ", ".join(f"{label(n)} {_num(v)}" for n, v in adv.items() if v is not None) + "."
    )
    limit = summary.get("gd_limit")
    gd = adv.get("gd")
    if limit is None and "gd_limit" in summary:
        out.append("GD does not converge at this learning rate (no limit t → ∞).")
    elif limit and key in (limit.get("adversarial_risk") or {}) and gd is not None:
        value = limit["adversarial_risk"][key]
        off = abs(gd - value) / value if value else float("nan")
        out.append(
            f"GD's limit t → ∞ (dashed) is {_num(value)}; GD ends {100 * off:.2g}% from it"
            + (
                " (converged)."
                if off <= TOLERANCES["gd_limit_fraction"]
                else f" (not converged: more than {100 * TOLERANCES['gd_limit_fraction']:g}%)."
            )
        )
    if gd is not None:
        ref = max(gd, (limit or {}).get("adversarial_risk", {}).get(key, gd)) if limit else gd
        larger = [n for n in names if n != "gd" and adv[n] is not None and adv[n] > ref]
        smaller = [n for n in names if n != "gd" and adv[n] is not None and adv[n] <= ref]
        if larger:
            out.append(f"Larger than GD's{' (and its limit)' if limit else ''}: {_names(larger)}.")
        if smaller:
            out.append(f"Not larger than GD's{' or its limit' if limit else ''}: {_names(smaller)}.")
    return " ".join(out)


def _weight_error_caption(traj: dict, mode: str, setting: str) -> str:
    sigma = np.asarray(traj["model"]["sigma_tilde"], dtype=float)
    irrelevant = [i for i, v in enumerate(sigma) if v == 0]
    out = [f"Per-frequency weight error |ẽᵢ(t)| = |w̃ᵢ(t) − w̃*ᵢ| with {MODE_TEXT.get(mode, mode)} ({setting})."]
    w0, w_star = np.asarray(traj["w0_tilde"], dtype=float), np.asarray(traj["model"]["w_star_tilde"], dtype=float)
    for i in irrelevant:
        start = abs(w0[i] - w_star[i])
        finals = {
            n: float(np.asarray(o["abs_error_tilde"], dtype=float)[-1, i]) for n, o in _ordered(traj["optimizers"])
        }
        kept = [n for n, v in finals.items() if abs(v - start) <= 1e-6 * max(1.0, start)]
        moved = [n for n in finals if n not in kept]
        text = (
            f"Irrelevant frequency {i} (σ̃ = 0): initial error {_num(start)}, final "
            + ", ".join(f"{label(n)} {_num(v)}" for n, v in finals.items())
            + "."
        )
        if kept:
            text += f" Unchanged for {_names(kept)}"
            text += f"; {_names(moved)} moved it." if moved else "."
        elif moved:
            text += " Every method moved it."
        out.append(text)
    if not irrelevant:
        out.append("No frequency has zero variance.")
    return " ".join(out)


def _surface_caption(surface: dict) -> str:
    names = [n for n, _ in _ordered(surface["ratio"])]
    eps = [float(e) for e in surface["eps"]]
    variances = [float(v) for v in surface["variances"]]
    out = [
        f"Ratio of adversarial risks (adaptive / {label(surface['reference'])}) over the L2 radius ε "
        f"({', '.join(f'{e:g}' for e in eps)}) and the variance of frequency {surface['irrelevant_index']} "
        f"({', '.join(f'{v:g}' for v in variances)}), after {surface['n_steps']:,} steps with the "
        f"{surface['gradient']} gradient (closed-form adversarial risk of the final weights)."
    ]
    for n in names:
        r = np.asarray(surface["ratio"][n], dtype=float)
        first, last = float(r[0].mean()), float(r[-1].mean())
        trend = "shrinks" if last < first else "grows" if last > first else "stays the same"
        out.append(
            f"{label(n)}: from {r.min():.3g} to {r.max():.3g}, above 1 (less robust than "
            f"{label(surface['reference'])}) in {int((r > 1).sum())} of {r.size} cells; mean over ε {first:.3g} at "
            f"variance {variances[0]:g} and {last:.3g} at {variances[-1]:g}: the gap {trend} as the frequency gains "
            "variance."
        )
    return " ".join(out)


def _captions(data: dict, eps: float) -> dict[str, str]:
    summary = data["summary"]
    out: dict[str, str] = {}
    traj0 = next(iter(data["trajectories"].values()), None)
    setting = ""
    if traj0 is not None:
        model = traj0["model"]
        setting = (
            f"σ̃ = {model['sigma_tilde']}, w̃* = {model['w_star_tilde']}, w̃(0) = {traj0['w0_tilde']}, "
            f"lr = {traj0['lr']:g}, {traj0['n_steps']:,} steps"
        )
    for mode, traj in data["trajectories"].items():
        out[f"weight_error_{mode}"] = _weight_error_caption(traj, mode, setting)
        out[f"risks_{mode}"] = _risks_caption(data, mode, eps)
    if traj0 is not None:
        w_star_norm = float(np.linalg.norm(traj0["model"]["w_star_tilde"]))
        parts = []
        for mode, finals in (summary.get("final") or {}).items():
            norms = {n: f["weight_norm"] for n, f in _ordered(finals)}
            parts.append(f"{MODE_TEXT.get(mode, mode)}: " + ", ".join(f"{label(n)} {v:.4g}" for n, v in norms.items()))
        out["weight_norms"] = (
            f"Final weight norm ‖w‖₂ (= ‖w̃‖₂) per optimizer and gradient mode; dashed: ‖w*‖₂ = {w_star_norm:.4g}, "
            "the norm of the minimum-norm solution. " + "; ".join(parts) + "."
        )
    surface = data["surface"]
    if surface:
        out["risk_ratio_heatmap"] = _surface_caption(surface)
    return out


def captions(run_path: str | Path, eps: float = math.sqrt(2.0)) -> dict[str, str]:
    """``{figure file stem: caption}`` of every figure :func:`make_figures` draws, computed from the run's numbers."""
    return _captions(load(run_path), eps)


def make_figures(run_path: str | Path, out_dir: str | Path | None = None, eps: float = math.sqrt(2.0)) -> list[Path]:
    """Draw every figure of the run into ``out_dir`` (default ``<run>/figures``) and ``linear_theory.md`` with their
    captions; returns the written figure paths."""
    use_style()
    data = load(run_path)
    summary = data["summary"]
    out = Path(out_dir) if out_dir else Path(run_path) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    text = _captions(data, eps)
    written: list[Path] = []
    for mode, traj in data["trajectories"].items():
        written += savefig(weight_error_figure(traj), out / f"weight_error_{mode}")
        written += savefig(risks_figure(traj, summary, eps), out / f"risks_{mode}")
    model = next(iter(data["trajectories"].values()))["model"] if data["trajectories"] else None
    if model is not None:
        written += savefig(
            weight_norm_figure(summary, float(np.linalg.norm(model["w_star_tilde"]))), out / "weight_norms"
        )
    surface = data["surface"]
    if surface:
        written += savefig(ratio_heatmap_figure(surface), out / "risk_ratio_heatmap")
    md = ["# Linear least-squares theory (Ma, Pan & Farahmand, TMLR 2023, Sec. 4)", "", f"Run: `{Path(run_path)}`", ""]
    for p in written:
        if p.suffix == ".png":
            md += [f"**{p.stem}** — {text.get(p.stem, '')}", ""]
    atomic_write_text(out / "linear_theory.md", "\n".join(md))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="run directory written by experiments/linear_theory.py")
    parser.add_argument("--out", default=None, help="output folder (default: <run_dir>/figures)")
    parser.add_argument(
        "--eps", type=float, default=math.sqrt(2.0), help="radius of the adversarial-risk plot (one the run recorded)"
    )
    args = parser.parse_args(argv)
    try:
        paths = make_figures(args.run_dir, args.out, args.eps)
    except (CheckpointError, KeyError) as exc:
        msg = (
            str(exc)
            if isinstance(exc, CheckpointError)
            else f"the run did not record eps={args.eps:g} (key {exc}); pass one of its eps values with --eps"
        )
        print(f"error: {msg}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
