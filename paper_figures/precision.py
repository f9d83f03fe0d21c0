"""bf16 autocast against fp32 for the paper's Fashion-MNIST recipe: the evidence that training in bf16 does not change
the science (results/fashion_mnist trains its Figure 1 runs with ``precision=bf16`` on the CPU).

1. *Tracking*: the seed-0 bf16 runs of the full recipe against the fp32 reference runs of the same seed (same initial
   weights, same batches; ``results/fashion_mnist/fp32_reference``): per-epoch test accuracy on the 10,000 test images
   over the first ``--epochs`` (80) epochs -- the largest and the mean absolute difference, and a figure.
2. *Short schedule*: fp32 and bf16 runs of the same recipe cut short (3 seeds, SGD and Adam), each evaluated under the
   same attacks on the same first test images; per seed and optimizer the difference bf16 - fp32 in robust accuracy,
   and its 95% interval over the seeds (``robustopt.stats.mean_interval`` with the per-image outcomes: the Student-t
   interval over seeds, widened to cover the images' own sampling error, so that identical per-seed differences never
   give a zero-width interval), with the per-image McNemar counts.  bf16 passes when every interval contains zero.

    python paper_figures/precision.py --runs results/fashion_mnist/runs \\
        --reference results/fashion_mnist/fp32_reference \\
        --short results/fashion_mnist/precision/short --out results/fashion_mnist/precision

Writes ``report.md``, ``precision.json`` and ``tracking.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt

from paper_figures.cli import cli_main
from paper_figures.style import color, figsize, label, savefig, use_style
from robustopt.bits import decode_mask
from robustopt.errors import MissingResultsError
from robustopt.io import atomic_write_json, atomic_write_text
from robustopt.rundir import RunDir, find_runs
from robustopt.stats import mcnemar, mean_interval


def _key(run: RunDir) -> tuple[str, int, str]:
    cfg = run.config()
    return cfg["optimizer"]["name"], int(cfg["seed"]), cfg.get("precision") or "fp32"


def tracking(runs: Path, reference: Path, epochs: int = 80) -> dict:
    """Per optimizer (seed 0): the bf16 and fp32 per-epoch test accuracies over the epochs both reached (at most
    ``epochs``), and their largest and mean absolute difference in points."""
    ref = {_key(r)[:2]: r for r in find_runs(reference)}
    out = {}
    for run in find_runs(runs):
        opt, seed, precision = _key(run)
        if precision != "bf16" or (opt, seed) not in ref:
            continue
        a = [m["test_accuracy"] for m in run.metrics()][:epochs]
        b = [m["test_accuracy"] for m in ref[(opt, seed)].metrics()][:epochs]
        k = min(len(a), len(b))
        if k == 0:
            continue
        diffs = [100 * (x - y) for x, y in zip(a[:k], b[:k])]
        worst = max(range(k), key=lambda i: abs(diffs[i]))
        out[opt] = {
            "seed": seed,
            "epochs": k,
            "bf16": a[:k],
            "fp32": b[:k],
            "max_abs_diff_points": abs(diffs[worst]),
            "max_abs_diff_epoch": worst + 1,
            "mean_abs_diff_points": sum(map(abs, diffs)) / k,
            "mean_diff_points": sum(diffs) / k,
            "n_images": 10_000,
        }
    if not out:
        raise MissingResultsError(
            f"no bf16 run under {runs} has an fp32 reference run (same optimizer and seed) under {reference}"
        )
    return out


def short_schedule(root: Path) -> dict:
    """``{"setting": what the runs were, "rows": {optimizer: {quantity: row}}}``: per optimizer and attack curve the
    per-seed robust accuracies of fp32 and bf16 on the same images, the paired differences bf16 - fp32, their 95%
    interval over seeds (with the images' error), and the pooled per-image McNemar counts."""
    by = defaultdict(dict)
    for run in find_runs(root):
        ev = run.summary().get("eval") or {}
        if "robust_accuracy" in ev and run.status == "completed":
            by[_key(run)] = ev
    if not by:
        raise MissingResultsError(
            f"no evaluated run under {root}; train the short-schedule sweep first (see this script's docstring)"
        )
    out: dict = {}
    first = next(iter(by.values()))["robust_accuracy"]
    cfg = find_runs(root)[0].config()
    setting = {
        "epochs": cfg.get("epochs"),
        "batch_size": cfg.get("batch_size"),
        "n_images": first["n"],
        "attacks": {
            lab: {"name": c["name"], "norm": c["norm"], **c.get("options", {})} for lab, c in first["attacks"].items()
        },
    }
    for (opt, seed, precision), ev in sorted(by.items()):
        if precision != "bf16" or (opt, seed, "fp32") not in by:
            continue
        ref = by[(opt, seed, "fp32")]
        ra, rf = ev["robust_accuracy"], ref["robust_accuracy"]
        if (ra["n"], ra["dataset"]) != (rf["n"], rf["dataset"]):
            raise MissingResultsError(f"{opt} seed {seed}: fp32 and bf16 were evaluated on different images")
        rows = out.setdefault(opt, {})
        curves = {
            "clean": (
                [ra["clean_accuracy"]],
                [rf["clean_accuracy"]],
                [ra["clean_correct"]],
                [rf["clean_correct"]],
                [None],
            )
        }
        for lab, c in ra["attacks"].items():
            cf = rf["attacks"][lab]
            curves[lab] = (c["robust_accuracy"], cf["robust_accuracy"], c["correct"], cf["correct"], c["eps"])
        for lab, (acc_b, acc_f, mask_b, mask_f, eps) in curves.items():
            for i, e in enumerate(eps):
                name = lab if e is None else f"{lab} eps={e:g}"
                row = rows.setdefault(
                    name, {"n_images": ra["n"], "seeds": [], "bf16": [], "fp32": [], "b01": 0, "b10": 0, "outcomes": []}
                )
                row["seeds"].append(seed)
                row["bf16"].append(acc_b[i])
                row["fp32"].append(acc_f[i])
                b, f = decode_mask(mask_b[i]), decode_mask(mask_f[i])
                row["outcomes"].append(b.astype(float) - f.astype(float))
                test = mcnemar(b, f)
                row["b01"] += test.only_a
                row["b10"] += test.only_b
    for rows in out.values():
        for row in rows.values():
            diffs = [b - f for b, f in zip(row["bf16"], row["fp32"])]
            iv = mean_interval(diffs, outcomes=row.pop("outcomes"))
            row.update(
                diff=diffs,
                mean_diff=iv.mean,
                low=iv.low,
                high=iv.high,
                contains_zero=bool(iv.defined and iv.low <= 0 <= iv.high),
            )
    return {"setting": setting, "rows": out}


def tracking_figure(track: dict, out: Path) -> Path:
    use_style()
    fig, axes = plt.subplots(1, 2, figsize=figsize(2.0, 0.45), sharex=True)
    for opt, t in track.items():
        epochs = range(1, t["epochs"] + 1)
        axes[0].plot(
            epochs, [100 * v for v in t["fp32"]], color=color(opt), lw=1.0, ls="--", label=f"{label(opt)} fp32"
        )
        axes[0].plot(epochs, [100 * v for v in t["bf16"]], color=color(opt), lw=1.0, label=f"{label(opt)} bf16")
        axes[1].plot(
            epochs, [100 * (b - f) for b, f in zip(t["bf16"], t["fp32"])], color=color(opt), lw=1.0, label=label(opt)
        )
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%, 10,000 images)", title="seed 0: bf16 and fp32 training")
    axes[1].axhline(0, color="0.5", lw=0.6)
    axes[1].set(xlabel="epoch", ylabel="bf16 − fp32 (points)", title="difference")
    axes[0].legend(fontsize=6, ncol=2, loc="lower right")
    axes[1].legend(fontsize=6, loc="upper right")
    fig.tight_layout()
    return savefig(fig, out / "tracking")


def report(track: dict, short: dict) -> str:
    lines = [
        "# bf16 autocast against fp32 (Fashion-MNIST, c2, the paper's recipe)",
        "",
        "Training runs with `precision=bf16`: each training step's forward and backward pass under "
        "`torch.autocast(dtype=torch.bfloat16)` on the CPU; weights, gradients' accumulation, optimizer state, "
        "the per-epoch test pass and every evaluation stay fp32.",
        "",
        "## 1. Tracking the fp32 runs (seed 0, full recipe)",
        "",
        "Per-epoch test accuracy on all 10,000 test images, bf16 run against the fp32 reference run of the same seed "
        "(same initial weights and batches).",
        "",
        "| optimizer | epochs compared | largest abs. difference (points, epoch) | mean abs. difference | mean "
        "difference bf16 − fp32 |",
        "|---|---:|---:|---:|---:|",
    ]
    for opt, t in track.items():
        lines.append(
            f"| {label(opt)} | {t['epochs']} | {t['max_abs_diff_points']:.2f} (epoch {t['max_abs_diff_epoch']}) | "
            f"{t['mean_abs_diff_points']:.2f} | {t['mean_diff_points']:+.2f} |"
        )
    lines += [
        "",
        "![tracking](tracking.png)",
        "",
        "## 2. Short schedule, 3 seeds: robust accuracy bf16 − fp32",
        "",
        "Per seed, the bf16 and fp32 runs (same seed: same initial weights and batches) are evaluated on the same "
        "first test images; the interval is the 95% Student-t interval of the per-seed differences, widened where "
        "needed to cover the images' own sampling error (`robustopt.stats.mean_interval` with the per-image "
        "outcomes). *b01*/*b10*: images (pooled over seeds) correct only under bf16 / only under fp32.",
        "",
        "| optimizer | quantity | images | seeds | bf16 (%) | fp32 (%) | bf16 − fp32 (points) [95% interval] | "
        "contains 0 | b01 / b10 |",
        "|---|---|---:|---|---|---|---|---|---:|",
    ]
    setting = short["setting"]
    attacks = ", ".join(
        f"{a['name'].upper()}-{a.get('steps', '')} {a['norm']}".replace("-  ", " ")
        for a in (setting.get("attacks") or {}).values()
    )
    lines.insert(
        len(lines) - 4,
        f"The short schedule: the recipe cut to {setting.get('epochs')} epochs (batch {setting.get('batch_size')}, "
        f"the paper's learning rates), evaluated with {attacks} on the first {setting.get('n_images')} test images.",
    )
    lines.insert(len(lines) - 4, "")
    all_zero = True
    for opt, rows in short["rows"].items():
        for name, r in rows.items():
            all_zero &= r["contains_zero"]
            lines.append(
                f"| {label(opt)} | {name} | {r['n_images']} | {','.join(map(str, r['seeds']))} | "
                f"{' / '.join(f'{100 * v:.1f}' for v in r['bf16'])} | "
                f"{' / '.join(f'{100 * v:.1f}' for v in r['fp32'])} | {100 * r['mean_diff']:+.2f} "
                f"[{100 * r['low']:+.2f}, {100 * r['high']:+.2f}] | {'yes' if r['contains_zero'] else '**no**'} | "
                f"{r['b01']} / {r['b10']} |"
            )
    lines += ["", f"**Every interval contains zero: {'yes' if all_zero else 'no'}.**", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, required=True, help="the bf16 runs of the full recipe")
    parser.add_argument("--reference", type=Path, required=True, help="the fp32 reference runs (per-epoch metrics)")
    parser.add_argument("--short", type=Path, required=True, help="the short-schedule sweep (fp32 and bf16 runs)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args(argv)

    def run() -> None:
        track, short = tracking(args.runs, args.reference, args.epochs), short_schedule(args.short)
        args.out.mkdir(parents=True, exist_ok=True)
        tracking_figure(track, args.out)
        atomic_write_json(args.out / "precision.json", {"tracking": track, "short_schedule": short})
        atomic_write_text(args.out / "report.md", report(track, short))
        print(args.out / "report.md")

    return cli_main(run)


if __name__ == "__main__":
    raise SystemExit(main())
