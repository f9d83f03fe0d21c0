"""Check an entry point's command line before Hydra starts the job (and so before it creates a run folder).

:func:`check_command_line` composes the config of every job the command line asks for (a multirun's sweep
expanded as Hydra's basic sweeper does) with Hydra's compose API, and turns what Hydra would print as a page of
text into one :class:`~robustopt.errors.ConfigError` sentence naming the key, the bad value and the valid choices:

* an unknown config-group choice (``optimizer=sgdd``) or a schema node (``optimizer=sgd_schema``, not a user
  choice), with the group's choices;
* a value of the wrong type (``optimizer.lr=abc``), with the type wanted;
* an unknown key (``optimizer.lrr=0.1``), with the keys that exist there.

Then the plain config goes through the entry point's own checker (:mod:`robustopt.cli.validate`): names,
options and values the library would reject later (after training, for an evaluation).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Optional, Sequence

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from robustopt.cli.sweep import expand_overrides
from robustopt.errors import ConfigError
from robustopt.io import check_writable

#: Config-store entries that only hold a schema or an evaluation's defaults: never a user's choice.
HIDDEN_SUFFIXES = ("_schema", "_defaults")
#: At most this many of a multirun's jobs are composed one by one; beyond it, each value of each swept key once.
MAX_COMPOSED_JOBS = 64
#: Hydra flags after which the command line is left to Hydra (help, printing the config, shell completion ...).
_PASS_THROUGH_FLAGS = (
    "--help",
    "-h",
    "--hydra-help",
    "--version",
    "--cfg",
    "-c",
    "--info",
    "-i",
    "--shell-completion",
    "-sc",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--resolve",
    "-p",
    "--package",
    "--run",
    "-r",
    "--experimental-rerun",
)


def group_choices(conf_dir: str | Path, group: str) -> list[str]:
    """The user-facing choices of config group ``group``: its ``conf/<group>/*.yaml`` files and the config-store
    entries of the group, without schema and defaults nodes."""
    names = {p.stem for p in (Path(conf_dir) / group).glob("*.yaml")}
    try:
        stored = ConfigStore.instance().list(group)
    except (OSError, KeyError, ValueError):
        stored = []
    names.update(Path(n).stem for n in stored if n.endswith(".yaml"))
    return sorted(n for n in names if not n.endswith(HIDDEN_SUFFIXES))


def _is_group(conf_dir: str | Path, key: str) -> bool:
    if (Path(conf_dir) / key).is_dir():
        return True
    try:
        return bool(ConfigStore.instance().list(key))
    except (OSError, KeyError, ValueError, AttributeError):
        return False


def split_override(override) -> tuple[str, str]:
    """``(key, value)`` of one command-line override (``+key=v``, ``~key``, ``key=v``): the one parser of override
    strings (the checker, run folder names, the overridden options, the W&B job info)."""
    key, _, value = str(override).partition("=")
    return key.lstrip("+~"), value


def _jobs(overrides: list[str], sweep: bool) -> list[list[str]]:
    if not sweep:
        return [overrides]
    try:
        jobs = expand_overrides(overrides)
    except Exception:  # noqa: BLE001 - a sweep this checker cannot expand (range(), glob()) is left to Hydra
        return []
    if len(jobs) <= MAX_COMPOSED_JOBS:
        return jobs
    # too many: every job's value of each key is the first one but for one key (each of its values once)
    first = jobs[0]
    picked = {tuple(first)}
    for position in range(len(first)):
        for job in jobs:
            if all(job[i] == first[i] for i in range(len(first)) if i != position):
                picked.add(tuple(job))
    return [list(j) for j in picked]


def _choice_error(conf_dir: str, exc: MissingConfigException, overrides: Sequence[str]) -> ConfigError:
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, name = missing.rpartition("/")
    if not group:
        return ConfigError(str(exc).splitlines()[0])
    given = next((o for o in overrides if split_override(o)[0] == group), f"{group}={name}")
    choices = group_choices(conf_dir, group)
    return ConfigError(
        f"{given}: no config '{name}' in group '{group}'; valid choices: {', '.join(choices)} (conf/{group}/)"
    )


def _find_omegaconf_error(exc: BaseException) -> Optional[OmegaConfBaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OmegaConfBaseException):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _keys_at(conf_dir: str, config_name: str, overrides: Sequence[str], key: str) -> list[str]:
    """The keys of the node that holds ``key``, in the config composed without the overrides of that key."""
    parent = key.rpartition(".")[0]
    rest = [o for o in overrides if split_override(o)[0] != key]
    try:
        cfg = _compose(conf_dir, config_name, rest)
    except Exception:  # noqa: BLE001 - only for the hint
        return []
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return sorted(str(k) for k in node.keys()) if isinstance(node, DictConfig) else []


def _value_error(conf_dir: str, config_name: str, exc: BaseException, overrides: Sequence[str]) -> ConfigError:
    inner = _find_omegaconf_error(exc)
    key = str(getattr(inner, "full_key", "") or "") if inner is not None else ""
    if not key:  # e.g. "Could not override 'optimizer.lrr'"
        match = re.search(r"override '([^']+)'", str(exc))
        key = match.group(1) if match else ""
    given = next((o for o in overrides if split_override(o)[0] == key), key)
    text = str(inner if inner is not None else exc).splitlines()[0]
    if (
        inner is not None
        and type(inner).__name__ in ("ConfigAttributeError", "ConfigKeyError")
        or "Could not override" in str(exc)
    ):
        keys = _keys_at(conf_dir, config_name, overrides, key)
        where = key.rpartition(".")[0] or "the top level"
        hint = f"; the keys of {where} are: {', '.join(keys)}" if keys else ""
        return ConfigError(f"{given}: no key '{key.rpartition('.')[2]}' in {where}{hint} (add a new key with +{given})")
    value = split_override(given)[1] if "=" in given else ""
    return ConfigError(f"{given}: invalid value{f' {value!r}' if value else ''} for {key or 'the config'} ({text})")


def _compose(conf_dir: str, config_name: str, overrides: Sequence[str]) -> DictConfig:
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        return compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)


def check_command_line(
    conf_dir: str,
    config_name: str,
    argv: Sequence[str],
    validate: Optional[Callable[[dict], None]] = None,
    to_plain: Optional[Callable[[DictConfig], dict]] = None,
    output_dirs: Optional[list] = None,
) -> int:
    """Compose and check every job of the command line ``argv`` (``sys.argv[1:]``); raise one ConfigError
    sentence at the first problem.  Returns the number of configs checked (0: left to Hydra, e.g. ``--help``).

    Also checked: the folder Hydra will write the job into (``hydra.run.dir``, or a multirun's ``hydra.sweep.dir``)
    can be created and written (:func:`check_output_dir`); those folders are appended to ``output_dirs``."""
    if any(a.split("=")[0] in _PASS_THROUGH_FLAGS for a in argv):
        return 0
    sweep = any(a in ("-m", "--multirun") for a in argv)
    overrides = [a for a in argv if not a.startswith("-")]
    for item in overrides:
        key, value = split_override(item)
        if value.endswith(HIDDEN_SUFFIXES) and _is_group(conf_dir, key):
            choices = group_choices(conf_dir, key)
            raise ConfigError(
                f"{item}: '{value}' is a schema, not a choice of group '{key}'; valid choices: {', '.join(choices)}"
            )
    if not sweep:
        # a config may itself be a multirun (hydra.mode: MULTIRUN, e.g. irrelevant_freq.yaml): its sweeps need no -m
        sweep = _is_multirun(conf_dir, config_name, [o for o in overrides if "," not in o])
    jobs = _jobs(overrides, True) if sweep else [overrides]  # each job composed (and its errors raised) below
    checked_dirs: set[str] = set()
    for number, job in enumerate(jobs):
        cfg = _compose_or_raise(conf_dir, config_name, job)
        if number == 0:
            check_launcher(cfg, overrides, sweep)
        folder = _output_dir(cfg, sweep)
        if folder is not None and str(folder) not in checked_dirs:
            checked_dirs.add(str(folder))
            check_output_dir(folder)
            if output_dirs is not None:
                output_dirs.append(folder)
        if validate is not None and to_plain is not None:
            hydra_cfg = cfg
            cfg = cfg.copy()
            with open_dict(cfg):
                cfg.pop("hydra", None)
            previous = HydraConfig.instance().cfg
            HydraConfig.instance().set_config(hydra_cfg)  # ${hydra:...} interpolations resolve as in the job
            try:
                plain = to_plain(cfg)
            except OmegaConfBaseException as exc:
                raise _value_error(conf_dir, config_name, exc, job) from None
            finally:
                HydraConfig.instance().cfg = previous
            validate(plain)
    return len(jobs)


def check_launcher(cfg: DictConfig, overrides: Sequence[str], sweep: bool) -> None:
    """A ``launcher=`` choice applies only to a multirun: without ``-m`` it is refused rather than ignored (the job
    would run here without a word).  With ``-m`` and the SLURM launcher, SLURM must answer (:func:`slurm_problem`)
    before a sweep folder is made and sbatch fails with a page of text."""
    chosen = next((split_override(o)[1] for o in overrides if split_override(o)[0] == "launcher"), None)
    if not sweep and chosen and chosen != "local":
        raise ConfigError(
            f"launcher={chosen} only applies to a multirun: add -m to run the jobs through it, or drop "
            f"launcher={chosen} to run this one job here"
        )
    target = str(OmegaConf.select(cfg, "hydra.launcher._target_", default="") or "")
    if sweep and "slurm" in target.lower():
        problem = slurm_problem()
        if problem:
            raise ConfigError(
                f"SLURM is not reachable from this machine ({problem}); run the sweep on the cluster's login node, or "
                f"drop launcher={chosen or 'slurm'} to run it here"
            )


def slurm_problem(timeout: float = 30.0) -> Optional[str]:
    """Why SLURM cannot take jobs from this machine (``sbatch`` missing, ``sinfo`` failing), or None when it answers."""
    if shutil.which("sbatch") is None:
        return "sbatch is not on PATH"
    if shutil.which("sinfo") is None:
        return None  # nothing else to ask: let sbatch try
    try:
        res = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"sinfo got no answer from the controller in {timeout:g} s"
    except OSError as exc:
        return f"sinfo: {exc.strerror or exc}"
    if res.returncode != 0:
        lines = [line.strip() for line in (res.stderr or res.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {res.returncode}"
        return last if last.startswith("sinfo:") else f"sinfo: {last}"
    return None


def _output_dir(cfg: DictConfig, sweep: bool) -> Optional[Path]:
    """The folder Hydra writes the job composed as ``cfg`` (with its ``hydra`` node) into; None when it cannot tell."""
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(cfg)  # ${hydra:...} (the job's overrides) resolves as in the job
    try:
        return Path(str(OmegaConf.select(cfg, "hydra.sweep.dir" if sweep else "hydra.run.dir")))
    except Exception:  # noqa: BLE001 - a folder we cannot resolve is left to Hydra
        return None
    finally:
        HydraConfig.instance().cfg = previous


def check_output_dir(folder: str | Path) -> None:
    """One ConfigError sentence unless ``folder`` (a job's output folder) can be created and written: a read-only,
    immutable or virtual (``/proc``) folder is refused before Hydra tries to make it.  Creates nothing that stays."""
    try:
        check_writable(folder)
    except OSError as exc:
        where = (
            Path(exc.filename).parent
            if exc.filename and ".robustopt-write-check." in str(exc.filename)
            else exc.filename
        )
        reason = (
            f"{where} accepts no new files: {exc.strerror}" if where and exc.strerror else (exc.strerror or str(exc))
        )
        raise ConfigError(
            f"cannot write the output folder {folder} ({reason}); make it writable, or choose another with "
            f"paths.output_dir=<a folder you can write>"
        ) from None


def _is_multirun(conf_dir: str, config_name: str, overrides: Sequence[str]) -> bool:
    """Whether the config composed with ``overrides`` (none of them a sweep) sets ``hydra.mode: MULTIRUN``."""
    try:
        cfg = _compose(conf_dir, config_name, overrides)
    except Exception:  # noqa: BLE001 - the caller composes again and reports the problem in one line
        return False
    return str(OmegaConf.select(cfg, "hydra.mode", default="") or "").upper().endswith("MULTIRUN")  # RunMode.MULTIRUN


def _compose_or_raise(conf_dir: str, config_name: str, overrides: Sequence[str]) -> DictConfig:
    try:
        return _compose(conf_dir, config_name, overrides)
    except MissingConfigException as exc:
        raise _choice_error(conf_dir, exc, overrides) from None
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - Hydra's composition errors (wrong type, unknown key, bad syntax)
        raise _value_error(conf_dir, config_name, exc, overrides) from None


__all__ = ["HIDDEN_SUFFIXES", "check_command_line", "group_choices"]
