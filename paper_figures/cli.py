"""The command-line tail every script of ``paper_figures/`` shares: a :class:`~robustopt.errors.RobustOptError`
becomes one line on stderr and exit status 2; a figure script prints the files it wrote (and logs its PNGs to W&B
when asked with ``--wandb``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from paper_figures.wandb_log import log_images_to_wandb
from robustopt.errors import RobustOptError


def cli_main(fn: Callable[[], int | None]) -> int:
    """Run ``fn``; a :class:`RobustOptError` becomes one line on stderr and exit status 2."""
    try:
        return int(fn() or 0)
    except RobustOptError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


def figure_main(
    make: Callable[[], Sequence[Path]],
    *,
    wandb: bool = False,
    name: str = "paper_figures",
    show: Callable[[Sequence[Path]], None] | None = None,
) -> int:
    """The ``main()`` of a figure script: ``make()`` draws and returns the files written; with ``wandb`` its PNGs go
    to one offline W&B run named ``name``; ``show(paths)`` prints anything before the list of files (e.g. a table).
    Errors of the store become one line and exit status 2 (:func:`cli_main`)."""

    def run() -> None:
        paths = make()
        if wandb:
            run_dir = log_images_to_wandb(paths, name=name, dir=Path(paths[0]).parent)
            print(f"W&B offline run: {run_dir} (upload with `wandb sync {run_dir}`)")
        if show is not None:
            show(paths)
        print("\n".join(map(str, paths)))

    return cli_main(run)
