"""Glue between Hydra and the library, shared by the entry points in ``experiments/``.

* registers the structured-config schemas (:mod:`robustopt.cli.schema`) and every evaluation's options
  (``eval/<name>_defaults``, from the evaluation's own defaults) with Hydra's ConfigStore;
* :func:`entry_point` turns user mistakes (:class:`~robustopt.errors.RobustOptError`, OmegaConf
  validation errors) into one readable line on stderr and a non-zero exit, never a traceback;
* :func:`to_plain` resolves a DictConfig into plain dicts for the library;
* :func:`run_dirname` names a job's run folder after its overrides.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robustopt.cli import schema, usage
from robustopt.cli.check import check_command_line, split_override
from robustopt.devices import default_num_threads
from robustopt.errors import RobustOptError
from robustopt.evaluation import EVALUATIONS, evaluation_defaults
from robustopt.runs import RUN_DIRNAME_EXCLUDED


def _conf_dir() -> str:
    """The ``conf/`` folder the entry points compose from: ``$ROBUSTOPT_CONF_DIR`` when set, else the clone's own
    ``conf/`` next to the ``robustopt/`` package (the editable install of ``scripts/setup.sh``), so the console
    scripts (``robustopt-train`` ...) find it from any working directory."""
    return os.environ.get("ROBUSTOPT_CONF_DIR") or str(Path(__file__).resolve().parents[2] / "conf")


CONF_DIR = _conf_dir()
# Exit statuses of the entry points (README, "Exit statuses"): the same for a single run and a multirun.
EXIT_OK = 0  # every run completed (or was already complete), every evaluation stored
EXIT_FAILED = (
    1  # a run or a job crashed (its meta.json says why: status failed); in a multirun, after the other jobs ran
)
EXIT_USER_ERROR = 2  # refused before any work: one line on stderr, nothing created
EXIT_DIVERGED = 3  # training ran, but a run diverged (status diverged: a result, not a trained model)
EXIT_INTERRUPTED = 130  # Ctrl-C: the run is recorded as interrupted; the same command resumes it
EXIT_TERMINATED = 143  # SIGTERM (128 + 15), handled as Ctrl-C: recorded as interrupted; the same command resumes it

#: The final status of every run this process trained (or found finished): a diverged one makes the exit status 3.
RUN_STATUSES: list[str] = []

log = logging.getLogger("robustopt")


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=schema.TrainConfig)
    cs.store(name="evaluate_schema", node=schema.EvaluateConfig)
    cs.store(group="dataset", name="dataset_schema", node=schema.DatasetConfig)
    cs.store(group="model", name="model_schema", node=schema.ModelConfig)
    cs.store(group="logger", name="logger_schema", node=schema.LoggerConfig)
    for name, node in schema.OPTIMIZER_SCHEMAS.items():
        cs.store(group="optimizer", name=f"{name}_schema", node=node)
    for name, node in schema.SCHEDULER_SCHEMAS.items():
        cs.store(group="scheduler", name=f"{name}_schema", node=node)
    cs.store(name="linear_theory_schema", node=schema.LinearTheoryConfig)
    for name in EVALUATIONS.names():  # conf/eval/<name>.yaml: defaults: [<name>_defaults, _self_]
        cs.store(group="eval", name=f"{name}_defaults", node=evaluation_defaults(name), package=f"eval.{name}")


# Overrides that do not change a run's results (or are too long for a folder name) are left out of it.
RUN_DIRNAME_MAX = 120


def run_dirname(overrides, *also_excluded: str) -> str:
    """A run folder name from a job's command-line overrides: ``optimizer-adam_seed-1``.

    Sorted ``key-value`` pairs joined by ``_`` (no ``=`` or ``,``, so the path can be passed back as
    ``run_dir=...``), leaving out :data:`RUN_DIRNAME_EXCLUDED` and ``also_excluded`` keys and their sub-keys;
    ``default`` when nothing is left; a hash suffix keeps long names short and unique.  The same overrides give the
    same folder, so re-running a command resumes its runs.
    """
    items = []
    for item in overrides or []:
        key, value = split_override(item)
        if any(key == ex or key.startswith(ex + ".") for ex in (*RUN_DIRNAME_EXCLUDED, *also_excluded)):
            continue
        value = re.sub(r"[^A-Za-z0-9.+-]+", "~", value).strip("~") or "none"
        items.append(f"{key}-{value}")
    name = "_".join(sorted(items)) or "default"
    if len(name) > RUN_DIRNAME_MAX:
        name = f"{name[: RUN_DIRNAME_MAX - 13]}~{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


def _register_resolvers() -> None:
    if not OmegaConf.has_resolver("or_default"):
        # ${or_default:${data_filter.name},none}: a value, or a default when it is null or empty
        OmegaConf.register_new_resolver(
            "or_default", lambda value, default: value if value not in (None, "") else default
        )
    if not OmegaConf.has_resolver("jobs_threads"):
        # ${jobs_threads:N}: the CPU threads of one of N jobs running at once on this machine
        OmegaConf.register_new_resolver("jobs_threads", lambda n: default_num_threads(int(n)))
    if not OmegaConf.has_resolver("run_dirname"):
        # ${run_dirname:${hydra:overrides.task},extra_key,...}: the run folder name of a job (see run_dirname)
        OmegaConf.register_new_resolver("run_dirname", run_dirname)


register_configs()
_register_resolvers()


def to_plain(cfg: DictConfig) -> dict:
    """The config resolved into plain Python containers (no OmegaConf objects reach the library); a wrapper
    optimizer's ``base`` is filled in with that optimizer's schema defaults (:func:`schema.expand_optimizer`)."""
    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    if isinstance(plain, dict) and isinstance(plain.get("optimizer"), dict):
        plain["optimizer"] = schema.expand_optimizer(plain["optimizer"])
    return plain  # type: ignore[return-value]


def output_dir() -> Path:
    """This job's Hydra output directory (its run directory)."""
    return Path(HydraConfig.get().runtime.output_dir)


def overridden(cfg: DictConfig, prefix: str, groups: dict[str, str] | None = None) -> dict:
    """The part of ``cfg[prefix]`` that this job's command line set (``prefix.a.b=...`` overrides, and config-group
    overrides in ``groups`` = {group: the key it fills}), resolved, as nested plain dicts."""
    out: dict = {}
    groups = groups or {}
    for item in HydraConfig.get().overrides.task:
        key = split_override(item)[0]
        if key in groups:
            key = groups[key]
        if key != prefix and not key.startswith(prefix + "."):
            continue
        value = OmegaConf.select(cfg, key)
        value = OmegaConf.to_container(value, resolve=True) if isinstance(value, (DictConfig, ListConfig)) else value
        parts = key.split(".")[1:]
        if not parts:
            return value if isinstance(value, dict) else {}
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def user_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_USER_ERROR)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a scheduler ending a job, a shutdown), raised where the process is, as Ctrl-C's
    KeyboardInterrupt: a run is recorded as interrupted and the same command resumes it."""


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


def interrupted(
    message: str = "stopped by Ctrl-C; results stored so far are kept, run the same command again to go on",
) -> None:
    """Ctrl-C: one line on stderr (no traceback) and exit status 130; SIGTERM the same, saying so, exit status 143."""
    terminated = isinstance(sys.exc_info()[1], Terminated)
    if terminated:
        message = message.replace("by Ctrl-C", "by SIGTERM")
    print(f"\ninterrupted{' (SIGTERM)' if terminated else ''}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)


def record_run_status(status: str) -> None:
    """Note the final status of a run of this process (:data:`RUN_STATUSES`), for the exit status of :func:`launch`."""
    RUN_STATUSES.append(str(status))


#: What Hydra writes into a job's output folder before the job runs: a folder holding nothing else is a stub.
_HYDRA_STUB = (".hydra",)
#: The folders that existed before this command (the nearest existing parent of each output folder): a stub's
#: empty parents are removed up to them, so that a refused start leaves no empty ``runs/default/`` behind.
_EXISTED_BEFORE: list[Path] = []


def _nearest_existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def remove_stub_run_dir() -> None:
    """Remove this job's output folder when the job failed before writing anything of its own (only Hydra's
    ``.hydra/`` and the log file are there), so that a refused start leaves no empty run folder behind."""
    try:
        path = output_dir()
        job_log = f"{HydraConfig.get().job.name}.log"
    except Exception:  # noqa: BLE001 - outside a Hydra job there is nothing to remove
        return
    if not path.is_dir() or any(p.name not in (*_HYDRA_STUB, job_log) for p in path.iterdir()):
        return
    shutil.rmtree(path, ignore_errors=True)
    parent = path.absolute().parent
    while (
        _EXISTED_BEFORE
        and parent not in _EXISTED_BEFORE
        and parent != parent.parent
        and any(e in parent.parents for e in _EXISTED_BEFORE)
    ):
        try:
            parent.rmdir()  # only an empty folder this command made
        except OSError:
            break
        parent = parent.parent


def entry_point(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap an entry point's main so that user mistakes print one line and exit non-zero (leaving no stub
    run folder)."""

    @functools.wraps(fn)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return fn(cfg)
        except RobustOptError as exc:
            log.error("%s", exc)
            remove_stub_run_dir()
            user_error(str(exc))
        except OmegaConfBaseException as exc:
            first = str(exc).splitlines()[0]
            key = getattr(exc, "full_key", None)
            remove_stub_run_dir()
            user_error(f"invalid configuration{f' at {key}' if key else ''}: {first}")
        except KeyboardInterrupt:
            remove_stub_run_dir()
            interrupted()

    return wrapper


#: Override keys whose value is a path: a run folder's name holds ``~`` (run_dirname), which Hydra's override grammar
#: rejects in a bare value, so ``run_dir=results/fashion_mnist/runs/experiment-paper~fashion~mnist_...`` is quoted.
PATH_KEYS = (
    "run_dir",
    "data_dir",
    "hydra.run.dir",
    "hydra.sweep.dir",
    "paths.output_dir",
    "paths.data_dir",
    "dataset.root",
)
_BARE_VALUE = re.compile(r"[A-Za-z0-9_./\\:+@$%-]*")


def quote_path_values(argv: list[str]) -> list[str]:
    """``argv`` with each path override (:data:`PATH_KEYS`) whose value Hydra would not parse bare put in quotes
    (a value already quoted, or one that holds none of the troublesome characters, is left as it is)."""
    out = []
    for arg in argv:
        key, value = split_override(arg)
        if "=" in arg and key in PATH_KEYS and value[:1] not in ("'", '"') and not _BARE_VALUE.fullmatch(value):
            arg = arg.partition("=")[0] + "='" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        out.append(arg)
    return out


def launch(
    task: Callable[[DictConfig], Any], config_name: str, validate: Optional[Callable[[dict], None]] = None
) -> None:
    """Run ``task`` as the Hydra app of ``conf/<config_name>.yaml`` on this process's command line.

    The command line is checked first (:func:`robustopt.cli.check.check_command_line`: every job's config
    composed, then ``validate``-d as plain dicts), so that a mistake is one line on stderr and exit status 2
    *before* Hydra creates a run folder.  The exit status is :data:`EXIT_DIVERGED` when a run diverged
    (:data:`RUN_STATUSES`).  The console scripts (``robustopt-train`` ...) and ``experiments/*.py``
    both come here.  Hydra names the job (and its log file) after ``task``'s module: ``robustopt.cli.train``
    -> ``train.log``.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)  # as Ctrl-C: recorded as interrupted, resumed by the same command
    sys.argv[1:] = quote_path_values(sys.argv[1:])
    argv = sys.argv[1:]
    if "--help" in argv or "-h" in argv:  # what a user chooses, not Hydra's listing of every config (--hydra-help)
        usage.print_help(CONF_DIR, config_name)
        raise SystemExit(EXIT_OK)
    if "--list" in argv:
        try:
            raise SystemExit(usage.print_list(argv))
        except RobustOptError as exc:  # a plugin that does not import
            user_error(str(exc))
    output_dirs: list[Path] = []
    try:
        check_command_line(
            CONF_DIR, config_name, sys.argv[1:], validate=validate, to_plain=to_plain, output_dirs=output_dirs
        )
        _EXISTED_BEFORE[:] = [_nearest_existing(d) for d in output_dirs]
    except RobustOptError as exc:
        user_error(str(exc))
    except KeyboardInterrupt:
        interrupted("stopped by Ctrl-C before anything started")
    hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")(task)()
    if "diverged" in RUN_STATUSES:
        raise SystemExit(EXIT_DIVERGED)
