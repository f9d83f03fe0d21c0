"""``--help`` and ``--list KIND`` of the entry points (issue 21).

Hydra's own ``--help`` lists every option of every config group, including the structured-config schemas
(``adadelta_schema``), the evaluations' stored defaults (``clean_defaults``) and groups another entry point uses
(``theory`` for training).  :func:`print_help` shows what a user chooses instead: the config groups this entry point
composes with the options that have a file in ``conf/<group>/``, the options described in the config's own
comments, and how to list what the registries hold (:func:`print_list`, ``--list optimizers``).  Hydra's text is
still there as ``--hydra-help``; the composed config as ``--cfg job``.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import yaml

from robustopt.registry import load_plugins

#: ``--list KIND``: (the registry's module and attribute, how a name is selected on the command line)
LISTS = {
    "models": ("robustopt.models", "MODELS", "model=<name> (conf/model/<name>.yaml) or model.name=<name>"),
    "datasets": ("robustopt.data", "DATASETS", "dataset=<name> (conf/dataset/<name>.yaml) or dataset.name=<name>"),
    "optimizers": ("robustopt.optim", "OPTIMIZERS", "optimizer=<name> (its options: conf/optimizer/<name>.yaml)"),
    "schedulers": ("robustopt.optim.schedules", "SCHEDULERS", "scheduler=<name>"),
    "attacks": ("robustopt.attacks", "ATTACKS", "'eval.robust_accuracy.attacks=[{name: <name>, norm: linf}]'"),
    "evaluations": (
        "robustopt.evaluation",
        "EVALUATIONS",
        "evaluations=[<name>,...] (options: eval.<name>.<option>=...)",
    ),
}
#: Config groups that are not a user's choice in --help: one fixed file, the per-evaluation options (shown as
#: eval.<name>.<option>), the git-ignored local overrides.
_HIDDEN_GROUPS = {"paths", "eval", "local"}


def prog() -> str:
    """How the user called this entry point: ``robustopt-train`` or ``python experiments/train.py``."""
    argv0 = sys.argv[0] if sys.argv else "robustopt"
    name = os.path.basename(argv0)
    return name if not name.endswith(".py") else f"python {os.path.relpath(argv0) if os.path.isabs(argv0) else argv0}"


def _config(conf_dir: str | Path, name: str) -> tuple[list[str], dict]:
    path = Path(conf_dir) / f"{name}.yaml"
    text = path.read_text() if path.is_file() else ""
    return text.splitlines(), (yaml.safe_load(text) or {}) if text else {}


def _groups(conf_dir: str | Path, name: str, seen: set | None = None) -> list[str]:
    """The config groups in ``name``'s defaults list, following configs it includes (``- train``)."""
    seen = set() if seen is None else seen
    out: list[str] = []
    for entry in _config(conf_dir, name)[1].get("defaults") or []:
        if isinstance(entry, dict):
            for key in entry:
                group = re.sub(r"^(optional|override)\s+", "", str(key)).strip("/ ")
                if group not in out:
                    out.append(group)
        elif (
            isinstance(entry, str)
            and entry != "_self_"
            and entry not in seen
            and (Path(conf_dir) / f"{entry}.yaml").is_file()
        ):
            seen.add(entry)
            out += [g for g in _groups(conf_dir, entry, seen) if g not in out]
    return out


def _choices(conf_dir: str | Path, group: str) -> list[str]:
    folder = Path(conf_dir) / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _comments(lines: list[str]) -> tuple[list[str], list[str]]:
    """(the config's leading comment lines, its ``# The options ...`` comment block), without the ``# ``."""
    lead = []
    for line in lines:
        if not line.startswith("#"):
            break
        lead.append(line[2:] if line.startswith("# ") else line[1:])
    options, inside = [], False
    for line in lines:
        if line.startswith("# The options"):
            inside = True
        elif inside and not line.startswith("#"):
            break
        if inside:
            options.append(line[2:] if line.startswith("# ") else line[1:])
    return lead, options


def help_text(conf_dir: str | Path, config_name: str) -> str:
    me = prog()
    lines, _ = _config(conf_dir, config_name)
    lead, options = _comments(lines)
    if not options:  # a config built on another one (irrelevant_freq on train): that one's options
        for group in [e for e in (_config(conf_dir, config_name)[1].get("defaults") or []) if isinstance(e, str)]:
            options = _comments(_config(conf_dir, group)[0])[1]
            if options:
                break
    lead = [line.replace(f"python experiments/{config_name}.py", me) for line in lead]
    out = [f"usage: {me} [group=option ...] [key=value ...]", ""]
    out += [f"  {line}" if line else "" for line in lead] + [""]
    groups = [g for g in _groups(conf_dir, config_name) if g not in _HIDDEN_GROUPS and _choices(conf_dir, g)]
    if groups:
        out.append("Choices (group=option; a file conf/<group>/<option>.yaml):")
        width = max(len(g) for g in groups)
        out += [f"  {g:<{width}}  {', '.join(_choices(conf_dir, g))}" for g in groups]
        out.append("")
    if options:
        out += [f"  {line}" if line else "" for line in options] + [""]
    out += [
        "What is available, built in and from your plugins (plugins=[my_file.py] on the same line adds yours):",
        *[f"  {me} --list {kind}" for kind in LISTS],
        "",
        "More:",
        f"  {me} --cfg job [overrides]   the full composed config, every option with its value",
        f"  {me} --hydra-help            Hydra's own flags (-m multirun, --cfg, --resolve, ...)",
        "  docs/plugins.md: your own models, data sets, optimizers, evaluations and attacks; README.md: the workflow",
    ]
    return "\n".join(out)


def print_help(conf_dir: str | Path, config_name: str) -> None:
    print(help_text(conf_dir, config_name), flush=True)


def _plugins(argv: list[str]) -> list[str]:
    """The modules of a ``plugins=[a.py,b]`` argument (a plain list; Hydra is not involved here)."""
    for arg in argv:
        m = re.fullmatch(r"\+?plugins=\[?(.*?)\]?", arg)
        if m:
            return [p.strip().strip("'\"") for p in m.group(1).split(",") if p.strip()]
    return []


def list_names(kind: str, argv: list[str] | None = None) -> tuple[str, list[str]]:
    """(how a name is selected, the sorted names) of the registry ``kind`` (a key of :data:`LISTS`), after the
    plugins named on the command line are imported.  Raises KeyError for an unknown kind."""
    module, attr, select = LISTS[kind]
    load_plugins(_plugins(argv or []))
    return select, getattr(importlib.import_module(module), attr).names()


def print_list(argv: list[str]) -> int:
    """``--list KIND [plugins=[...]]``: the names, one a line, after a line saying how to select one.  Returns the
    exit status (2 for a missing or unknown kind, with one line naming the kinds)."""
    i = argv.index("--list")
    kind = argv[i + 1] if i + 1 < len(argv) else ""
    if kind not in LISTS:
        what = f"unknown kind {kind!r}" if kind else "--list needs a kind"
        print(f"error: {what}; --list one of: {', '.join(LISTS)}", file=sys.stderr, flush=True)
        return 2
    select, names = list_names(kind, argv)
    print(f"{kind} (select with {select}):")
    print("\n".join(f"  {n}" for n in names), flush=True)
    return 0
