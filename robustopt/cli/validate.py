"""What each entry point checks in a composed config before its job starts (no run folder exists yet).

Everything here asks the library's own builders and registries, on plain dicts, so the checks are the ones the
job would make later -- only earlier: a misspelled evaluation fails before training, not after it, and a
rejected learning rate leaves no run folder behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from robustopt.data import get_spec
from robustopt.data.cache import check_data_root  # noqa: F401 - also this module's name for it (tests, callers)
from robustopt.errors import ConfigError
from robustopt.evaluation import EVALUATIONS
from robustopt.evaluation.matched import RULE_LOWEST_FINAL
from robustopt.evaluation.pipeline import check_evaluations, check_protocol, check_runs_can_be_evaluated, parse_shard
from robustopt.frequency import FILTERS
from robustopt.optim import build_optimizer, build_scheduler
from robustopt.registry import load_plugins
from robustopt.rundir import scan_run_dir
from robustopt.runs import build_run_model
from robustopt.train.fit import PRECISIONS


def check_train_config(cfg: dict) -> None:
    """Check a training config as the job would, before anything is created: plugins import; the data set,
    model, optimizer, schedule, data filter and every evaluation (names and options) exist and accept their
    options; ``epochs`` >= 1; the data root exists (or may be made)."""
    load_plugins(cfg.get("plugins"))
    epochs = int(cfg["epochs"])
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, got {epochs}")
    precision = cfg.get("precision") or "fp32"
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "fp32" and cfg.get("amp"):
        raise ConfigError(
            f"precision={precision} and amp=true both set the training precision; pick one (amp is CUDA's fp16)"
        )
    ds = cfg["dataset"]
    get_spec(ds["name"])
    with torch.device("meta"):  # the model's options are checked without allocating its weights
        try:
            build_run_model(cfg)
        except ConfigError:
            raise
        except Exception:  # noqa: BLE001 - a model that cannot be built on the meta device is built by the job
            pass
    opt = dict(cfg["optimizer"])
    optimizer = build_optimizer(opt.pop("name"), [torch.nn.Parameter(torch.zeros(1))], **opt)
    sched = dict(cfg["scheduler"])
    build_scheduler(sched.pop("name"), optimizer, epochs, **sched)
    filt = cfg.get("data_filter") or {}
    if filt.get("name"):
        FILTERS.get(filt["name"])
        if not 0 < float(filt.get("keep_fraction", 1.0)) <= 1:
            raise ConfigError(f"data_filter.keep_fraction must be in (0, 1], got {filt.get('keep_fraction')}")
    check_evaluations(cfg.get("evaluations") or [], cfg.get("eval") or {}, ds["name"])  # names, options and values
    check_data_root(
        ds["root"],
        ds["name"],
        download=bool(ds.get("download")),
        create=bool((cfg.get("paths") or {}).get("create_data_dir")),
    )


#: Digests of the training configs checked in this process (:func:`check_train_config_once`).
_CHECKED: set[str] = set()


def _digest(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def check_train_config_once(cfg: dict) -> None:
    """:func:`check_train_config`, once per config and process: the command line's check (before Hydra starts any
    job) records each job's config, so the job finds it checked when it starts; a job in a process that did not
    check it (a SLURM job on its node: the command line was checked on the login node) checks it there."""
    key = _digest(cfg)
    if key in _CHECKED:
        return
    check_train_config(cfg)
    _CHECKED.add(key)


def check_evaluate_config(cfg: dict) -> None:
    """Check an evaluation config before anything is created: plugins import, ``run_dir`` is a training run, a sweep
    folder or a folder of sweep folders (:func:`robustopt.rundir.scan_run_dir`), the
    evaluations exist, ``protocol`` and ``shard`` are valid, ``data_dir`` (when given) exists."""
    load_plugins(cfg.get("plugins"))
    scan = scan_run_dir(str(cfg["run_dir"]))  # a training run, a sweep folder of runs or a folder of sweep folders
    in_progress = bool(cfg.get("in_progress"))
    check_protocol(cfg.get("protocol"), cfg.get("matched_target", RULE_LOWEST_FINAL), in_progress)
    parse_shard(cfg.get("shard"))
    for name in cfg.get("evaluations") or []:  # the names only: the options are each run's own, merged per run
        EVALUATIONS.get(name)
    data_dir = cfg.get("data_dir")
    if data_dir and not Path(str(data_dir)).expanduser().is_dir():
        raise ConfigError(f"data_dir {data_dir} does not exist; leave it out to read each run's own dataset.root")
    eligible = [r for r in scan.runs if r.status == "completed" or (in_progress and r.status != "diverged")]
    check_runs_can_be_evaluated(eligible, data_dir)  # weights, a writable folder, data: before any work


VALIDATORS = {
    "train": check_train_config,
    "irrelevant_freq": check_train_config,
    "evaluate": check_evaluate_config,
}
