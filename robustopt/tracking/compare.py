"""Side-by-side tables of a sweep's runs, one column per optimizer (the demo's printout)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from robustopt.evaluation.robust_accuracy import side_by_side
from robustopt.rundir import find_runs, not_a_training_run
from robustopt.stats import mean_interval
from robustopt.tracking.reader import format_table
from robustopt.train.lr_select import learning_rate

OPTIMIZER_ORDER = {"sgd": 0, "adam": 1, "rmsprop": 2}  # the paper's order; other optimizers follow by name


def _completed_runs(sweep_dir: str | Path) -> list[tuple]:
    """``(run, config)`` of the completed runs under ``sweep_dir``, by optimizer (paper's order), then seed."""
    runs = [(r, r.config()) for r in find_runs(sweep_dir) if r.status == "completed" and not not_a_training_run(r)]
    name = lambda cfg: cfg["optimizer"]["name"]  # noqa: E731
    runs.sort(key=lambda rc: (OPTIMIZER_ORDER.get(name(rc[1]), len(OPTIMIZER_ORDER)), name(rc[1]), rc[1]["seed"]))
    return runs


def _runs_by_label(sweep_dir: str | Path) -> dict:
    """Completed runs keyed by ``optimizer`` (one seed) or ``optimizer/sSEED`` (several)."""
    runs = _completed_runs(sweep_dir)
    several = len({cfg.get("seed") for _, cfg in runs}) > 1
    return {
        (f"{cfg['optimizer']['name']}/s{cfg['seed']}" if several else cfg["optimizer"]["name"]): run
        for run, cfg in runs
    }


def clean_table(sweep_dir: str | Path) -> str:
    """Clean test accuracy and loss per optimizer (mean ± std over seeds), with learning rate and epochs."""
    groups = defaultdict(list)  # keeps the order of _completed_runs
    for run, cfg in _completed_runs(sweep_dir):
        groups[cfg["optimizer"]["name"]].append((cfg, run.summary()))
    rows = []
    for name, items in groups.items():
        acc = [s["test_accuracy"] for _, s in items]
        loss = [s["test_loss"] for _, s in items]
        cell = lambda v: f"{mean_interval(v).mean:.4f}" + (f" ± {mean_interval(v).sd:.4f}" if len(v) > 1 else "")  # noqa: E731
        rows.append(
            {
                "optimizer": name,
                "lr": learning_rate(items[0][0]["optimizer"]),
                "epochs": items[0][0]["epochs"],
                "seeds": len(items),
                "test accuracy": cell(acc),
                "test loss": cell(loss),
            }
        )
    cols = ["optimizer", "lr", "epochs", "seeds", "test accuracy", "test loss"]
    return format_table(rows, cols, floatfmt="{:g}")


def _grid(labels: list[str], rows: list[tuple[str, dict]], first: str, fmt: str = "{:.4f}") -> str:
    """Rows of (row name, {run label: value}) as a table with one column per run."""
    table = [
        {first: name, **{lab: (fmt.format(v) if v is not None else None) for lab, v in vals.items()}}
        for name, vals in rows
    ]
    return format_table(table, [first, *labels])


def gaussian_noise_table(results: dict) -> str:
    labels = list(results)
    first = next(iter(results.values()))
    rows = [("clean", {lab: r["clean_accuracy"] for lab, r in results.items()})]
    for i, var in enumerate(first["variances"]):
        rows.append((f"variance {var:g}", {lab: r["accuracy"][i] for lab, r in results.items()}))
    return _grid(labels, rows, "accuracy")


def band_noise_table(results: dict) -> str:
    labels = list(results)
    first = next(iter(results.values()))
    rows = []
    for basis in [b for b in ("dct", "fft") if b in first]:
        for k in range(len(first[basis]["drop"])):
            rows.append(
                (
                    f"{basis} band {k + 1} (r {first[basis]['r_low'][k]:.1f}-{first[basis]['r_high'][k]:.1f})",
                    {lab: r[basis]["drop"][k] for lab, r in results.items()},
                )
            )
    return _grid(labels, rows, "drop (clean - noisy)")


def lipschitz_table(results: dict) -> str:
    labels = list(results)
    names = (
        "paper_bound",
        "operator_norm_product",
        "certified_upper_bound",
        "empirical_lower_bound",
        "upper_bound",
        "lower_bound",
        "gap",
    )
    keys = [k for k in names if k in next(iter(results.values()))]  # upper_bound / lower_bound: older summaries
    rows = [(k.replace("_", " "), {lab: r.get(k) for lab, r in results.items()}) for k in keys]
    return _grid(labels, rows, "Lipschitz", fmt="{:.4g}")


def robust_accuracy_title(results: dict) -> str:
    """The robust-accuracy table's title: how many first test images, and the attacks the runs ran (by label)."""
    labels = list(dict.fromkeys(label for r in results.values() for label in r.get("attacks", {})))
    ns = sorted({r["n"] for r in results.values() if r.get("n") is not None})
    images = f"first {'/'.join(map(str, ns))} test images" if ns else "first test images"
    return f"Robust accuracy ({images}; {', '.join(labels) or 'no attack'})"


def evaluation_tables(sweep_dir: str | Path) -> list[tuple[str, str]]:
    """(title, table) for every evaluation found in the sweep's summaries, one column per run."""
    runs = _runs_by_label(sweep_dir)
    results = defaultdict(dict)
    for label, run in runs.items():
        for name, res in (run.summary().get("eval") or {}).items():
            results[name][label] = res
    out = []
    if "robust_accuracy" in results:
        out.append((robust_accuracy_title(results["robust_accuracy"]), side_by_side(results["robust_accuracy"])))
    if "gaussian_noise" in results:
        out.append(
            (
                "Accuracy under Gaussian noise clamp(x + sqrt(var) N(0,1), 0, 1)",
                gaussian_noise_table(results["gaussian_noise"]),
            )
        )
    if "band_noise" in results:
        out.append(
            (
                "Accuracy drop under band-limited Gaussian noise "
                "(band 1 = lowest frequencies; equal-size radial bands)",
                band_noise_table(results["band_noise"]),
            )
        )
    if "lipschitz" in results:
        out.append(("Lipschitz bounds (the paper's Table 1)", lipschitz_table(results["lipschitz"])))
    return out


def irrelevant_freq_rows(sweep_dir: str | Path) -> list[dict]:
    """One row per run of an irrelevant-frequency sweep (``experiments/irrelevant_freq.py``): data set, filter,
    % of training-data frequencies removed, optimizer, seed, test accuracy, status; baseline first."""
    rows = []
    for run in find_runs(sweep_dir):
        cfg, summary = run.config(), run.summary()
        filt = cfg.get("data_filter") or {}
        keep = float(filt.get("keep_fraction", 1.0)) if filt.get("name") else 1.0
        rows.append(
            {
                "dataset": str((cfg.get("dataset") or {}).get("name", "unknown")),
                "filter": filt.get("name") or "none",
                "removed_percent": round(100 * (1 - keep)),
                "optimizer": (cfg.get("optimizer") or {}).get("name"),
                "seed": cfg.get("seed"),
                "test_accuracy": summary.get("test_accuracy"),
                "status": run.status,
                "run_dir": str(run.path),
            }
        )
    rows.sort(key=lambda r: (r["dataset"], r["filter"] != "none", r["filter"], r["removed_percent"], str(r["seed"])))
    return rows


def sweep_report(sweep_dir: str | Path) -> str:
    parts = [f"Sweep {sweep_dir}", "", "Clean test accuracy and loss", clean_table(sweep_dir)]
    for title, table in evaluation_tables(sweep_dir):
        parts += ["", title, table]
    return "\n".join(parts)
