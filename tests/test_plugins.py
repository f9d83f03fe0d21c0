"""docs/plugins.md, run as written: one example per registry (model, data set, optimizer, evaluation, attack).

The fast tests load each example file in-process and use what it registers through the library; the slow test
runs the page's command lines, in order, in an empty folder (the folder a user runs from), as a user would.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, clean_env

DOC = REPO / "docs" / "plugins.md"
KINDS = ("A model", "A data set", "An optimizer", "An evaluation", "An attack")


def sections() -> dict[str, list[tuple[str, str]]]:
    """``{"## " heading: [(language, code), ...]}`` of docs/plugins.md, in order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for part in re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = re.findall(r"^```(\w+)\n(.*?)^```", body, flags=re.M | re.S)
    return out


def write_example_files(folder: Path) -> list[Path]:
    """Every code block whose first line is ``# <path>`` written to ``folder/<path>``; the .py files."""
    written = []
    for blocks in sections().values():
        for _, code in blocks:
            m = re.match(r"# ([\w/.]+\.(?:py|yaml))\n", code)
            if m:
                path = folder / m.group(1)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(code)
                written.append(path)
    return [p for p in written if p.suffix == ".py"]


def commands() -> list[str]:
    return [code.strip() for blocks in sections().values() for lang, code in blocks if lang == "bash"]


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    """An empty folder to run from, with the example files in it; every registry, sys.modules and sys.path as
    they were afterwards (the examples register names and import modules)."""
    from robustopt.attacks import ATTACKS
    from robustopt.data import DATASETS
    from robustopt.evaluation import EVALUATIONS
    from robustopt.evaluation import registry as evaluation_registry
    from robustopt.models import MODELS
    from robustopt.optim import OPTIMIZERS

    registries = (ATTACKS, DATASETS, EVALUATIONS, MODELS, OPTIMIZERS)
    for registry in registries:  # load the lazily registered built-ins first, or restoring would drop them
        registry.names()
    saved = [dict(r._entries) for r in registries]
    saved_rules = copy.deepcopy(evaluation_registry._RULES)
    modules, path = set(sys.modules), list(sys.path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for registry, entries in zip(registries, saved):
        registry._entries.clear()
        registry._entries.update(entries)
    evaluation_registry._RULES.clear()
    evaluation_registry._RULES.update(saved_rules)
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def test_every_kind_has_a_file_and_a_command():
    found = sections()
    for kind in KINDS:
        langs = [lang for lang, _ in found[kind]]
        assert "python" in langs and "bash" in langs, kind
        assert any(re.match(r"# \w+\.py\n", code) for lang, code in found[kind] if lang == "python"), kind


def test_examples_work_from_python(user_folder):
    import robustopt
    from robustopt.data import load_split_uint8
    from robustopt.models import MODELS, init_model
    from robustopt.optim import build_optimizer
    from robustopt.registry import load_plugins

    load_plugins([str(p.relative_to(user_folder)) for p in write_example_files(user_folder)])

    # a model: built by name and by import path (the same builder: the file is imported once)
    assert MODELS.get("my_models.tiny_mlp") is MODELS.get("tiny_mlp")
    model = init_model(0, "tiny_mlp", in_channels=1, num_classes=4, image_size=16, width=8)
    assert model(torch.rand(3, 1, 16, 16)).shape == (3, 4)

    # a data set: the reader's images show their class (a full bright row for 0, a full bright column for 1)
    x, y = load_split_uint8("stripes", user_folder / "data", "train")
    assert x.shape == (512, 1, 16, 16) and x.dtype == torch.uint8 and set(y.tolist()) == {0, 1}
    rows = (x[:, 0] == 255).all(dim=2).any(dim=1)
    cols = (x[:, 0] == 255).all(dim=1).any(dim=1)
    assert torch.equal(rows, y == 0) and torch.equal(cols, y == 1)

    # an optimizer: Lion's first step from zero momentum is -lr * sign(grad)
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    opt = build_optimizer("my_lion", [w], lr=0.1, betas=[0.9, 0.99])
    (w**2).sum().backward()
    opt.step()
    assert torch.allclose(w.detach(), torch.tensor([0.9, -1.9, 0.4]))

    # an evaluation, through the notebook front door: its accuracy is the clean evaluation's
    res = robustopt.evaluate(
        model, dataset="synthetic", evaluations=["clean", "confidence"], n_examples=64, root=str(user_folder)
    )
    assert res["confidence"]["n"] == 64 and res["confidence"]["accuracy"] == pytest.approx(res["clean"]["accuracy"])

    # an attack, by name and by import path (_target_): the same random corners, so the same accuracies
    specs = [
        {"name": "random_corner", "norm": "linf"},
        {"_target_": "my_attacks.RandomCorner", "norm": "linf", "label": "t"},
    ]
    res = robustopt.evaluate(
        model,
        dataset="synthetic",
        evaluations=["robust_accuracy"],
        n_examples=64,
        root=str(user_folder),
        options={"robust_accuracy": {"attacks": specs, "eps": {"linf": [0.05, 0.2]}, "sanity": False}},
    )
    curves = res["robust_accuracy"]["attacks"]
    assert curves["random_corner-linf"]["robust_accuracy"] == curves["t"]["robust_accuracy"]

    # the notebook example at the end of the page
    (code,) = [c for lang, c in sections()["In a notebook"] if lang == "python"]
    exec(compile(code, str(DOC), "exec"), {})


def test_target_imports_a_module_from_the_working_directory(user_folder):
    """``_target_: my_module.Class`` finds a file in the folder the user runs from, without PYTHONPATH."""
    from robustopt.attacks import build_attack

    assert str(user_folder) not in sys.path
    (user_folder / "corner_attacks_cwd.py").write_text(
        "class Nothing:\n    def __init__(self, eps, norm='linf'):\n        self.eps = eps\n"
        "    def __call__(self, model, x, y):\n        return x\n"
    )
    attack = build_attack({"_target_": "corner_attacks_cwd.Nothing"}, eps=0.1)
    assert type(attack).__name__ == "Nothing" and attack.eps == 0.1


@pytest.mark.slow
def test_examples_from_the_command_line(tmp_path):
    """Every command of the page, as written (through the shell, with the console scripts on PATH as in an active
    environment), in order, from an empty folder holding only the example files: no clone around it, no data
    folder, no ROBUSTOPT_* variables (issue 21)."""
    from robustopt.rundir import find_runs

    write_example_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "my_attacks.py",
        "my_conf",
        "my_data.py",
        "my_evals.py",
        "my_models.py",
        "my_optimizers.py",
    ]
    env = {
        k: v for k, v in clean_env(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1").items() if not k.startswith("ROBUSTOPT_")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    outputs = []
    for command in commands():
        assert command.split()[0] in ("robustopt-train", "robustopt-evaluate"), command
        res = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
        outputs.append(res.stdout)
    # the attack's table names the attacks that ran (not "FGSM / PGD"), and its rows line up under the header
    table = outputs[-1][outputs[-1].index("Robust accuracy (") :].split("\n\n")[0].strip().splitlines()
    assert (
        "FGSM" not in table[0] and "pgd-linf, random_corner-linf" in table[0] and "first 100 test images" in table[0]
    ), table[0]
    header, rule, *rows = table[1:]
    assert set(rule) == {"-"} and len(rule) == len(header)
    assert all(len(row) == len(header) for row in rows), "\n".join(table)
    assert any(row.startswith("random_corner-linf ") for row in rows)
    runs = {
        (r.config()["model"]["name"], r.config()["dataset"]["name"], r.config()["optimizer"]["name"]): r
        for r in find_runs(tmp_path / "outputs" / "runs")
    }
    assert set(runs) == {("tiny_mlp", "synthetic", "sgd"), ("c2", "stripes", "sgd"), ("c2", "synthetic", "my_lion")}
    for run in runs.values():
        assert run.status == "completed"
        ev = run.summary()["eval"]
        assert ev["confidence"]["n"] == 100
        assert set(ev["robust_accuracy"]["attacks"]) == {"random_corner-linf", "pgd-linf"}
        assert ev["robust_accuracy"]["attacks"]["random_corner-linf"]["eps"] == [0.01, 0.05]
