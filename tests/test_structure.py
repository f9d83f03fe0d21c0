"""The library's structure, read from its source with ``ast`` (every import, also those inside functions):

* dependencies point one way: no cycle between robustopt's subpackages (and base modules), and no import
  up the layer order of docs/DESIGN (base <- building blocks <- runs, train, evaluation <- tracking <- cli);
* no robustopt import hides inside a function (the front door's lazy ``robustopt.evaluate`` aside);
* one Hydra boundary: Hydra and OmegaConf are imported only in robustopt/cli, experiments/ and tests/, and
  Hydra's private API (``hydra._internal``) nowhere; every ``_target_`` in conf/ imports.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "robustopt"

#: Every unit of robustopt (a subpackage, or a module of the base layer) and its layer; imports may only point to
#: the same layer (without cycles) or below.  "robustopt" is the package's own __init__ (the front door).
LAYERS: dict[str, int] = {
    # base: errors, registries, atomic files, run-directory files, the logger interface, the paper's constants
    **dict.fromkeys(
        (
            "errors",
            "registry",
            "io",
            "bits",
            "stats",
            "checkpoint",
            "devices",
            "metrics",
            "logger",
            "meta",
            "rundir",
            "paper",
        ),
        0,
    ),
    # building blocks
    **dict.fromkeys(("data", "models", "optim", "attacks", "frequency", "lipschitz", "theory", "sharpness"), 1),
    # a config's identity and model; training; evaluation
    **dict.fromkeys(("runs", "train", "evaluation"), 2),
    # reporting; the notebook front door (robustopt.evaluate)
    "tracking": 3,
    "robustopt": 3,
    # the Hydra boundary
    "cli": 4,
}
LAYER_NAMES = ["base", "building blocks", "runs/train/evaluation", "tracking", "cli"]


def python_files(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, source: str | None = None) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function or class)`` for every import statement of ``path`` (or of
    ``source``, read as that file); ``from a import b`` yields ``a.b`` when that is a module of ours, else ``a``."""
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    top = {id(node) for node in tree.body}
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        nested = id(node) not in top
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                is_module = (REPO / Path(*full.split("."))).is_dir() or (REPO / Path(*full.split("."))).with_suffix(
                    ".py"
                ).exists()
                out.append((full if is_module else base, node.lineno, nested))
    return out


def unit(module: str) -> str | None:
    """The unit of a robustopt module (``robustopt.evaluation.noise`` -> ``evaluation``), None outside robustopt."""
    parts = module.split(".")
    if parts[0] != "robustopt":
        return None
    return parts[1] if len(parts) > 1 else "robustopt"


def dependency_graph() -> dict[str, dict[str, list[str]]]:
    """``{unit: {imported unit: ["file:line", ...]}}`` over every import of every module under robustopt/."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in python_files("robustopt"):
        src = unit(module_name(path))
        graph.setdefault(src, {})
        for module, line, _ in imports(path):
            dst = unit(module)
            if dst is not None and dst != src:
                graph[src].setdefault(dst, []).append(f"{path.relative_to(REPO)}:{line}")
    return graph


def find_cycle(graph: dict[str, dict]) -> list[str] | None:
    """One cycle of ``graph`` as a list of units (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {}}) is None


def test_every_unit_has_a_layer():
    units = {unit(module_name(p)) for p in python_files("robustopt")}
    assert units <= set(LAYERS), (
        f"assign a layer to {sorted(units - set(LAYERS))} in tests/test_structure.py (and docs)"
    )


def test_no_cycle_between_subpackages():
    graph = dependency_graph()
    cycle = find_cycle(graph)
    if cycle:
        where = [f"{a} -> {b} ({graph[a][b][0]})" for a, b in zip(cycle, cycle[1:])]
        pytest.fail("robustopt's subpackages import each other in a cycle: " + "; ".join(where))


def test_imports_point_down_the_layers():
    wrong = []
    for src, targets in dependency_graph().items():
        for dst, where in targets.items():
            if LAYERS[dst] > LAYERS[src]:
                wrong.append(
                    f"{src} ({LAYER_NAMES[LAYERS[src]]}) imports {dst} ({LAYER_NAMES[LAYERS[dst]]}) at {where[0]}"
                )
    assert not wrong, "imports pointing up the layer order:\n" + "\n".join(wrong)


def test_nothing_imports_the_front_door_or_the_entry_points():
    wrong = []
    for path in python_files("robustopt"):
        for module, line, _ in imports(path):
            top = module.split(".")[0]
            if module == "robustopt" or top in ("experiments", "paper_figures", "scripts", "tests"):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_no_robustopt_import_inside_a_function():
    """A robustopt import inside a function is how a cycle hides; only the front door's lazy attributes may."""
    allowed = {("robustopt/__init__.py", "robustopt.evaluation.api"), ("robustopt/__init__.py", "robustopt.runs")}
    nested = [
        (str(p.relative_to(REPO)), m, line)
        for p in python_files("robustopt")
        for m, line, inner in imports(p)
        if inner and unit(m) is not None
    ]
    assert [(f, m) for f, m, _ in nested if (f, m) not in allowed] == [], nested


def test_the_checks_see_imports_inside_functions():
    """The parser counts function-level and relative imports (it would otherwise miss exactly the hidden cycles)."""
    path = REPO / "robustopt" / "frequency" / "heatmap.py"
    source = (
        "import torch\ndef f():\n    from robustopt.evaluation import registry\n"
        "    from ..metrics import accuracy_and_loss\n"
    )
    assert imports(path, source) == [
        ("torch", 1, False),
        ("robustopt.evaluation.registry", 3, True),
        ("robustopt.metrics", 4, True),
    ]


# -- one Hydra boundary ---------------------------------------------------------------------------------------
HYDRA_ALLOWED = ("robustopt/cli/", "experiments/", "tests/")


def test_hydra_and_omegaconf_only_in_the_cli():
    wrong = []
    for path in python_files("robustopt", "experiments", "scripts", "paper_figures", "tests"):
        rel = str(path.relative_to(REPO))
        for module, line, _ in imports(path):
            if module.split(".")[0] in ("hydra", "omegaconf", "hydra_plugins") and not rel.startswith(HYDRA_ALLOWED):
                wrong.append(f"{rel}:{line} imports {module}")
    assert not wrong, "Hydra/OmegaConf outside robustopt/cli, experiments/ and tests/:\n" + "\n".join(wrong)


def test_no_private_hydra_api():
    wrong = [
        f"{p.relative_to(REPO)}:{line} imports {m}"
        for p in python_files("robustopt", "experiments", "scripts", "paper_figures", "tests")
        for m, line, _ in imports(p)
        if m.startswith("hydra._internal")
    ]
    for path in python_files("robustopt", "experiments", "scripts", "paper_figures"):
        if "hydra._internal" in path.read_text():
            wrong.append(f"{path.relative_to(REPO)} names hydra._internal")
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        if "hydra._internal" in path.read_text():
            wrong.append(f"{path.relative_to(REPO)} names hydra._internal")
    assert not wrong, "\n".join(wrong)


def test_every_target_in_conf_imports():
    """A class named by ``_target_`` in conf/ (e.g. the CollectSweep callback) exists where the config says."""
    from robustopt.registry import import_object

    targets = set()
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        targets |= {(path.name, t) for t in re.findall(r"_target_:\s*([\w.:]+)", path.read_text())}
    assert ("train.yaml", "robustopt.cli.callbacks.CollectSweep") in targets
    for name, target in sorted(targets):
        assert import_object(target) is not None, f"{name}: {target}"


# -- evaluations carry their own rules (issue 22) -------------------------------------------------------------
#: The modules that run, merge and check every evaluation alike: none may name a particular one.
GENERIC_EVALUATION_MODULES = (
    "robustopt/evaluation/pipeline.py",
    "robustopt/evaluation/merge.py",
    "robustopt/evaluation/registry.py",
    "robustopt/cli/validate.py",
    "robustopt/cli/check.py",
)


def builtin_evaluation_names() -> set[str]:
    """The names the built-in evaluations register (``register_evaluation("<name>", ...)`` in robustopt/evaluation/)."""
    names = set()
    for path in python_files("robustopt/evaluation"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "register_evaluation"
            ):
                if node.args and isinstance(node.args[0], ast.Constant):
                    names.add(node.args[0].value)
    return names


def code_words(path: Path) -> set[str]:
    """Every word of ``path``'s code -- names, attributes, imported modules, string values -- but not of its
    docstrings and comments."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        texts = []
        if isinstance(node, ast.Name):
            texts = [node.id]
        elif isinstance(node, ast.Attribute):
            texts = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            texts = [node.name]
        elif isinstance(node, ast.arg):
            texts = [node.arg]
        elif isinstance(node, ast.ImportFrom):
            texts = [node.module or "", *(a.name for a in node.names)]
        elif isinstance(node, ast.Import):
            texts = [a.name for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            texts = [node.value]
        for text in texts:
            words.update(re.findall(r"[A-Za-z0-9_]+", text))
    return words


def test_the_pipeline_merge_and_validation_name_no_evaluation():
    """Defaults, value checks and merging are each evaluation's registered rules: the pipeline, the merge and the
    start-up validation have no special case for any evaluation's name."""
    names = builtin_evaluation_names()
    assert {"clean", "robust_accuracy", "band_noise", "gaussian_noise", "lipschitz"} <= names
    wrong = {rel: sorted(code_words(REPO / rel) & names) for rel in GENERIC_EVALUATION_MODULES}
    assert not any(wrong.values()), f"special cases for evaluations by name: {wrong}"


def test_no_module_imports_another_modules_private_names():
    wrong = []
    for path in python_files("robustopt"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("robustopt")):
                wrong += [
                    f"{path.relative_to(REPO)}:{node.lineno} imports {a.name} from {node.module}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not wrong, "\n".join(wrong)


def test_evaluations_share_one_options_helper_and_one_forward_pass():
    """Each evaluation reads its options through the registry's ``evaluation_options`` (no ``_options`` copy of its
    own), and the batched forward pass over test images is written once, in ``robustopt.metrics``."""
    wrong = []
    for path in python_files("robustopt/evaluation", "robustopt/frequency"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "_options":
                wrong.append(f"{path.relative_to(REPO)}:{node.lineno} defines its own _options")
            if (
                isinstance(node, (ast.Attribute, ast.Name))
                and getattr(node, "attr", getattr(node, "id", "")) == "cross_entropy"
            ):
                wrong.append(
                    f"{path.relative_to(REPO)}:{node.lineno} computes a loss itself (use "
                    "robustopt.metrics.forward_outcomes)"
                )
    assert not wrong, "\n".join(wrong)
