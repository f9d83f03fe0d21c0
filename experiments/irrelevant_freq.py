"""The irrelevant-frequency experiment (Ma, Pan & Farahmand, TMLR 2023, Figure 2), as one Hydra multirun.

Trains with SGD on training minibatches whose high-frequency or low-energy DCT content is removed
(``data_filter``, applied after augmentation by the batch server; see robustopt.frequency.filters), keeping
90, 70, 50, 30 and 10% of the coefficients, plus the unfiltered baseline; tests on the untouched test set.
Each run is an ordinary training run (experiments/train.py), so it resumes and records like any other.

    python experiments/irrelevant_freq.py                                  # conf/irrelevant_freq.yaml
    python experiments/irrelevant_freq.py experiment=quick logger=none     # a short demo
    python experiments/irrelevant_freq.py summarize=outputs/multiruns/irrelevant_freq
        -> prints test accuracy versus the percentage removed and writes irrelevant_freq.json there
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from robustopt.cli import CONF_DIR
from robustopt.cli.train import train_job
from robustopt.io import atomic_write_json
from robustopt.tracking.compare import irrelevant_freq_rows
from robustopt.tracking.reader import format_table


def summarize(sweep_dir: str | Path) -> list[dict]:
    """Test accuracy per (filter, % removed) of the runs under ``sweep_dir``; written to ``irrelevant_freq.json``."""
    rows = irrelevant_freq_rows(sweep_dir)
    atomic_write_json(Path(sweep_dir) / "irrelevant_freq.json", rows)
    return rows


@hydra.main(config_path=CONF_DIR, config_name="irrelevant_freq", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train_job(cfg)  # an ordinary training job, with this experiment's config


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a.startswith("summarize=")]
    if args:
        table = summarize(args[0].split("=", 1)[1])
        print(format_table(table, ["filter", "removed_percent", "seed", "test_accuracy", "status"],
                           ["filter", "% removed", "seed", "test accuracy", "status"]))
    else:
        main()
