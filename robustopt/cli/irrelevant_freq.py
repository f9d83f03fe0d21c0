"""The irrelevant-frequency experiment's job (``experiments/irrelevant_freq.py``, ``robustopt-irrelevant-freq``).

Ma, Pan & Farahmand (TMLR 2023), Figure 2: SGD trained on minibatches whose high-frequency or low-energy DCT
content is removed (``conf/irrelevant_freq.yaml``, one multirun).  Each job is an ordinary training job
(:func:`robustopt.cli.train.train_job`); ``summarize=SWEEP_DIR`` instead prints test accuracy versus the
percentage removed and writes ``irrelevant_freq.json`` there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from robustopt.cli.app import launch, user_error
from robustopt.cli.train import train_job
from robustopt.cli.validate import check_train_config_once
from robustopt.errors import ConfigError, RobustOptError
from robustopt.io import atomic_write_json
from robustopt.rundir import find_runs
from robustopt.tracking.compare import irrelevant_freq_rows
from robustopt.tracking.reader import format_table


def summarize(sweep_dir: str | Path) -> list[dict]:
    """Test accuracy per (filter, % removed) of the runs under ``sweep_dir``; written to ``irrelevant_freq.json``.
    A folder that does not exist or holds no runs is a ConfigError (nothing is written)."""
    path = Path(sweep_dir)
    if not path.is_dir():
        raise ConfigError(
            f"summarize={sweep_dir}: no such folder; pass the irrelevant-frequency sweep's folder "
            f"(outputs/multiruns/irrelevant_freq by default)"
        )
    if not find_runs(path):
        raise ConfigError(f"summarize={sweep_dir}: no run directories there; run experiments/irrelevant_freq.py first")
    rows = irrelevant_freq_rows(path)
    atomic_write_json(path / "irrelevant_freq.json", rows)
    return rows


def irrelevant_freq_job(cfg: DictConfig) -> None:
    """One job of the sweep: an ordinary training job with this experiment's config."""
    train_job(cfg)


def main() -> None:
    """``robustopt-irrelevant-freq`` / ``python experiments/irrelevant_freq.py`` (``summarize=DIR``: the table)."""
    args = [a for a in sys.argv[1:] if a.startswith("summarize=")]
    if not args:
        launch(irrelevant_freq_job, "irrelevant_freq", check_train_config_once)
        return
    try:
        table = summarize(args[0].split("=", 1)[1])
    except RobustOptError as exc:
        user_error(str(exc))
    print(
        format_table(
            table,
            ["filter", "removed_percent", "seed", "test_accuracy", "status"],
            ["filter", "% removed", "seed", "test accuracy", "status"],
        )
    )
