"""Experiment loggers: W&B (offline by default) or none (:class:`robustopt.logger.NullLogger`).

Both have the same methods (the interface is :class:`~robustopt.logger.NullLogger`), so the pipelines never
check which one they hold.  W&B is imported only here, when a W&B logger is built.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence

from PIL import Image

from robustopt.errors import ConfigError, DependencyError
from robustopt.logger import NullLogger

log = logging.getLogger(__name__)


class WandbLogger(NullLogger):
    """Weights & Biases logger.

    ``mode="offline"`` (the default) writes the run under ``dir/wandb/`` and never needs a login;
    upload later with ``wandb sync DIR/wandb/offline-run-*``.  ``run_id`` resumes the same W&B run
    (a resumed training job continues its run instead of starting a new one).
    """

    def __init__(
        self,
        *,
        project: str,
        name: str,
        group: Optional[str] = None,
        job_type: str = "train",
        config: Optional[dict] = None,
        mode: str = "offline",
        entity: Optional[str] = None,
        tags: Sequence[str] = (),
        dir: str | Path = ".",
        run_id: Optional[str] = None,
    ) -> None:
        try:
            import wandb
        except ImportError:  # pragma: no cover - wandb is a core dependency
            raise DependencyError(
                "logger=wandb needs the 'wandb' package: pip install wandb (or use logger=none)"
            ) from None
        if mode not in ("offline", "online", "disabled"):
            raise ConfigError(f"logger.mode must be offline, online or disabled, got '{mode}'")
        mode = os.environ.get("WANDB_MODE", mode)  # the environment wins (tests set disabled/offline)
        if mode == "online" and not (os.environ.get("WANDB_API_KEY") or _has_netrc_login()):
            raise ConfigError(
                "logger.mode=online needs a W&B login: run 'wandb login' first, or use logger.mode=offline and "
                "'wandb sync' later"
            )
        Path(dir).mkdir(parents=True, exist_ok=True)
        self._wandb = wandb
        self.run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            group=group,
            job_type=job_type,
            config=config or {},
            tags=list(tags),
            mode=mode,
            dir=str(dir),
            id=run_id,
            resume="allow" if run_id else None,
            reinit="finish_previous",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )
        self.run_id = self.run.id
        self.run_dir = getattr(self.run, "dir", None)
        self._broken = False

    def _safely(self, what: str, fn, *args, **kwargs) -> None:
        """Call W&B; if it fails, warn once and stop logging to W&B, but never stop training.

        W&B only mirrors the run directory.  On SLURM, preemption or ``scontrol requeue`` sends SIGTERM to
        every process of the job: W&B's service process dies at once while the training process (whose
        SIGTERM submitit ignores) goes on until SIGKILL, so its next W&B call fails with a lost connection.
        """
        if self._broken:
            return
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any W&B failure; the run directory keeps everything
            self._broken = True
            log.warning(
                "W&B %s failed (%s: %s); W&B logging is off for the rest of this run, the run "
                "directory still records everything",
                what,
                type(exc).__name__,
                exc,
            )

    def log_metrics(self, metrics: dict, step: Optional[int] = None) -> None:
        self._safely("log", self.run.log, dict(metrics), step=step)

    def log_summary(self, values: dict) -> None:
        self._safely("summary", self.run.summary.update, dict(values))

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self._safely(
            "log", lambda: self.run.log({key: self._wandb.Table(columns=list(columns), data=[list(r) for r in rows])})
        )

    def log_figure(self, key: str, figure) -> None:
        """Log a matplotlib figure (pyplot or a bare ``matplotlib.figure.Figure``) as an image."""
        self._safely("log", lambda: self.run.log({key: self._wandb.Image(_figure_to_image(figure))}))

    def finish(self, exit_code: int = 0) -> None:
        self._safely("finish", self.run.finish, exit_code=exit_code)


def _figure_to_image(figure):
    """Render a matplotlib figure to a PIL image (W&B's own conversion needs pyplot to be imported)."""
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _has_netrc_login() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def build_logger(
    cfg: dict,
    *,
    name: str,
    group: Optional[str],
    job_type: str,
    config: dict,
    dir: str | Path,
    run_id: Optional[str] = None,
) -> NullLogger:
    """The logger that ``cfg`` (the ``logger`` config group) asks for."""
    kind = (cfg or {}).get("name", "none")
    if kind in (None, "none"):
        return NullLogger()
    if kind != "wandb":
        raise ConfigError(f"unknown logger '{kind}'; known loggers: none, wandb")
    return WandbLogger(
        project=cfg.get("project") or "robustopt",
        entity=cfg.get("entity"),
        name=name,
        group=cfg.get("group") or group,
        job_type=job_type,
        config=config,
        mode=cfg.get("mode") or "offline",
        tags=cfg.get("tags") or (),
        dir=dir,
        run_id=run_id,
    )
