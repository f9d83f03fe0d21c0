"""The jobs a Hydra multirun should have, re-expanded from its ``multirun.yaml``, and the sweep table.

:func:`expected_jobs` parses the sweep's command-line overrides and ``hydra.sweeper.params`` with Hydra's
override parser and takes their cartesian product, as Hydra's basic sweeper does (the later of two overrides
of one key wins, in the first one's place).  :func:`collect` hands them to
:func:`robustopt.tracking.sweep.collect_sweep`, so that a job that never started is listed as missing.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Optional, Sequence

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from robustopt.errors import ConfigError
from robustopt.tracking.sweep import SweepResult, collect_sweep


def expand_overrides(overrides: Sequence[str]) -> list[list[str]]:
    """Every job's override list for a multirun's overrides (``optimizer=sgd,adam seed=0,1`` -> 4 jobs), in
    Hydra's basic sweeper's order."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices: dict[str, list[str]] = {}
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                raise ConfigError(
                    f"the sweep '{override.input_line}' is not a list of choices; "
                    f"Hydra's basic sweeper (and so this table) only takes choices like a,b,c"
                )
            choices[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            choices[key] = [f"{key}={override.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*choices.values())]


def expected_jobs(sweep_dir: str | Path) -> Optional[list[list[str]]]:
    """Every job's override list, re-expanded from ``SWEEP_DIR/multirun.yaml`` (``hydra.sweeper.params`` first,
    then the command-line overrides).  None when there is no ``multirun.yaml`` or the sweep used another
    sweeper."""
    path = Path(sweep_dir) / "multirun.yaml"
    if not path.exists():
        return None
    with open(path) as fh:
        cfg = yaml.safe_load(fh) or {}
    hydra_cfg = cfg.get("hydra") or {}
    sweeper = hydra_cfg.get("sweeper") or {}
    if "basic_sweeper" not in str(sweeper.get("_target_", "basic_sweeper")).lower():
        return None
    args = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    args += list((hydra_cfg.get("overrides") or {}).get("task") or [])
    return expand_overrides(args)


def collect(sweep_dir: str | Path, *, write: bool = True, metrics: Optional[Sequence[str]] = None) -> SweepResult:
    """:func:`~robustopt.tracking.sweep.collect_sweep` with the jobs the sweep should have (:func:`expected_jobs`)."""
    return collect_sweep(sweep_dir, expected_jobs(sweep_dir), write=write, metrics=metrics)
