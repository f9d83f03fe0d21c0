"""Command-line helpers of scripts/optimizer_zoo.sh (the optimizer zoo's fair protocol).

    python -m robustopt.cli.zoo grid OVERRIDES...     # the lr sweep override of one optimizer: optimizer.lr=a,b,c
    python -m robustopt.cli.zoo select SWEEP_DIR      # one line per optimizer: its overrides at the chosen lr
    python -m robustopt.cli.zoo extend SWEEP_DIR      # one line per optimizer whose choice is an edge of its grid:
                                                      # its overrides at the next lr beyond that edge

``grid`` composes the training config (conf/train.yaml with OVERRIDES, e.g. ``experiment=optimizer_zoo
optimizer=lookahead``) and prints the Hydra sweep override of its learning rate over
:func:`robustopt.train.lr_select.lr_grid` of its default.  ``select`` chooses each optimizer's learning rate on
validation accuracy (:func:`robustopt.train.lr_select.select_from_runs`), writes ``chosen_lr.json`` into the
sweep folder and prints ``optimizer=<name> <lr override>`` per optimizer.  ``extend`` prints, for every optimizer
whose chosen learning rate is the smallest or largest it tried (:func:`robustopt.train.lr_select.edge_of_grid`), the
overrides of the next learning rate beyond that edge (x3 or /3), so that scripts/optimizer_zoo.sh can train it and
choose again until every choice is interior (or its extension budget is spent: the table then marks the edge).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from robustopt.cli.app import CONF_DIR, to_plain, user_error
from robustopt.errors import RobustOptError
from robustopt.io import atomic_write_text
from robustopt.train.lr_select import learning_rate, lr_grid, lr_override, next_lr, select_from_runs


def grid(overrides: list[str]) -> str:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = to_plain(compose(config_name="train", overrides=overrides))
    opt = cfg["optimizer"]
    lrs = lr_grid(learning_rate(opt))
    key, _, _ = lr_override(opt, lrs[0]).partition("=")
    return f"{key}=" + ",".join(lr_override(opt, lr).partition("=")[2] for lr in lrs)


def select(sweep_dir: str) -> str:
    chosen = select_from_runs(sweep_dir)
    atomic_write_text(Path(sweep_dir) / "chosen_lr.json", json.dumps(chosen, indent=2, default=str) + "\n")
    lines = []
    for label, c in chosen.items():
        if c["all_diverged"]:
            print(f"warning: every learning rate of {label} diverged; keeping the smallest", file=sys.stderr)
        lines.append(f"optimizer={c['optimizer']['name']} {c['override']}")
    return "\n".join(lines)


def extend(sweep_dir: str) -> str:
    lines = []
    for c in select_from_runs(sweep_dir).values():
        if c["edge"] and not c["all_diverged"]:
            lines.append(
                f"optimizer={c['optimizer']['name']} {lr_override(c['optimizer'], next_lr(c['scores'], c['edge']))}"
            )
    return "\n".join(lines)


COMMANDS = {"grid": grid, "select": select, "extend": extend}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS or (argv[0] in ("select", "extend") and len(argv) != 2):
        user_error("usage: python -m robustopt.cli.zoo grid OVERRIDES... | select SWEEP_DIR | extend SWEEP_DIR")
    try:
        print(COMMANDS[argv[0]](argv[1:] if argv[0] == "grid" else argv[1]))
    except RobustOptError as exc:
        user_error(str(exc))


if __name__ == "__main__":
    main(sys.argv[1:])
