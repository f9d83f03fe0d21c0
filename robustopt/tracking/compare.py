"""Side-by-side tables of a sweep's runs, one column per optimizer (the demo's printout)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean, pstdev

from robustopt.tracking.reader import find_runs, format_table


def _label(cfg: dict, seeds: int) -> str:
    name = cfg["optimizer"]["name"]
    return name if seeds == 1 else f"{name}/s{cfg['seed']}"


def _runs_by_label(sweep_dir: str | Path):
    runs = [r for r in find_runs(sweep_dir) if r.status == "completed"]
    seeds = len({r.config().get("seed") for r in runs})
    order = {"sgd": 0, "adam": 1, "rmsprop": 2}
    runs.sort(key=lambda r: (order.get(r.config()["optimizer"]["name"], 9), r.config()["optimizer"]["name"], r.config()["seed"]))
    return {_label(r.config(), seeds): r for r in runs}


def clean_table(sweep_dir: str | Path) -> str:
    """Clean test accuracy and loss per optimizer (mean ± std over seeds), with learning rate and epochs."""
    groups = defaultdict(list)
    for run in find_runs(sweep_dir):
        if run.status != "completed":
            continue
        cfg, summary = run.config(), run.summary()
        groups[cfg["optimizer"]["name"]].append((cfg, summary))
    order = {"sgd": 0, "adam": 1, "rmsprop": 2}
    rows = []
    for name in sorted(groups, key=lambda n: (order.get(n, 9), n)):
        items = groups[name]
        acc = [s["test_accuracy"] for _, s in items]
        loss = [s["test_loss"] for _, s in items]
        spread = lambda v: f" ± {pstdev(v):.4f}" if len(v) > 1 else ""  # noqa: E731
        rows.append({
            "optimizer": name,
            "lr": items[0][0]["optimizer"]["lr"],
            "epochs": items[0][0]["epochs"],
            "seeds": len(items),
            "test accuracy": f"{mean(acc):.4f}{spread(acc)}",
            "test loss": f"{mean(loss):.4f}{spread(loss)}",
        })
    cols = ["optimizer", "lr", "epochs", "seeds", "test accuracy", "test loss"]
    return format_table(rows, cols, floatfmt="{:g}")


def evaluation_tables(sweep_dir: str | Path) -> list[tuple[str, str]]:
    """(title, table) for every evaluation found in the sweep's summaries that knows how to compare runs."""
    runs = _runs_by_label(sweep_dir)
    results = defaultdict(dict)
    for label, run in runs.items():
        for name, res in (run.summary().get("eval") or {}).items():
            results[name][label] = res
    out = []
    if "robust_accuracy" in results:
        from robustopt.evaluation.robust_accuracy import side_by_side

        out.append(("Robust accuracy (first test images; FGSM / PGD)", side_by_side(results["robust_accuracy"])))
    for name, title in (("gaussian_noise", "Accuracy under Gaussian noise"), ("band_noise", "Accuracy drop under band-limited noise"), ("lipschitz", "Lipschitz bounds")):
        if name in results:
            from robustopt.evaluation.registry import EVALUATIONS

            module = __import__(EVALUATIONS.get(name).__module__, fromlist=["side_by_side"])
            fmt = getattr(module, f"side_by_side_{name}", None) or getattr(module, "side_by_side", None)
            if fmt is not None:
                out.append((title, fmt(results[name])))
    return out


def sweep_report(sweep_dir: str | Path) -> str:
    parts = [f"Sweep {sweep_dir}", "", "Clean test accuracy and loss", clean_table(sweep_dir)]
    for title, table in evaluation_tables(sweep_dir):
        parts += ["", title, table]
    return "\n".join(parts)
