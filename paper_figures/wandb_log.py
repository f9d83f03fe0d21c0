"""Logging figures to W&B (only when a script is asked to: ``--wandb``), offline by default."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from robustopt.tracking.loggers import WandbLogger


def log_images_to_wandb(
    paths: Iterable[Path],
    *,
    project: str = "robustopt",
    name: str = "paper_figures",
    dir: str | Path | None = None,
    mode: str = "offline",
) -> Path | None:
    """Log the PNGs among ``paths`` to one W&B run as images, keyed by file stem (only when asked: ``--wandb``).

    Offline by default (the run goes to ``dir/wandb/offline-run-*``; upload it later with ``wandb sync``), never
    prompting: it goes through :class:`robustopt.tracking.loggers.WandbLogger`, where ``WANDB_MODE`` wins and
    ``online`` without a login is a :class:`~robustopt.errors.ConfigError`.  Returns the W&B run folder (None when
    there is no PNG).
    """
    pngs = [Path(p) for p in paths if str(p).endswith(".png")]
    if not pngs:
        return None
    images: dict[str, Path] = {}
    for p in pngs:
        key = p.stem if p.stem not in images else f"{p.parent.name}/{p.stem}"
        images[key] = p
    logger = WandbLogger(project=project, name=name, job_type="figures", mode=mode, dir=Path(dir) if dir else Path("."))
    try:
        import wandb

        logger.run.log({key: wandb.Image(str(p)) for key, p in images.items()})
    finally:
        logger.finish()
    run_dir = getattr(logger.run, "dir", None)
    return Path(run_dir).parent if run_dir else None
