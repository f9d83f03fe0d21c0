"""The reproduction as a ledger of units (robustopt.cli.reproduce): train, ship with safetensors weights, evaluate a
shipped run from its weights alone, never redo a shipped unit, respect the time budget."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from robustopt.checkpoint import load_checkpoint, load_weights
from robustopt.cli import reproduce
from robustopt.errors import CheckpointError, ConfigError
from robustopt.rundir import RunDir
from robustopt.runs import load_run

from .conftest import REPO, run_entry

TINY = reproduce.Recipe(
    name="tiny",
    experiment="quick",
    optimizers=("sgd", "adam"),
    seeds=(0,),
    train_minutes=2.0,
    train_overrides={"adam": ("optimizer.fused=true", "optimizer.betas=[0.9,0.99]")},  # "~" in the folder name
    common_overrides=("dataset=synthetic", "model=mlp", "epochs=2"),
    evaluations=(
        reproduce.Evaluation("clean", ("clean",), minutes=1.0),
        reproduce.Evaluation(
            "pgd",
            ("robust_accuracy",),
            (
                "eval.robust_accuracy.attacks=[{name:pgd,norm:linf,steps:5,eps:0.03}]",
                "eval.robust_accuracy.n_samples=32",
            ),
            1.0,
            (("pgd-linf", 0.03),),
            32,
        ),
    ),
    later=(
        reproduce.Evaluation(
            "pgd-large",
            ("robust_accuracy",),
            (
                "eval.robust_accuracy.attacks=[{name:pgd,norm:linf,steps:5,eps:0.3}]",
                "eval.robust_accuracy.n_samples=32",
            ),
            30.0,
            (("pgd-linf", 0.3),),
            32,
        ),
    ),
)


def test_ledger_order_and_states(tmp_path):
    units = reproduce.ledger(tmp_path / "results", reproduce.FASHION_MNIST)
    ids = [u.id for u in units]
    # the seed-0 runs of all three optimizers and their Figure 1 evaluations come before any seed-1 unit
    first_seed1 = min(i for i, u in enumerate(units) if u.seed == 1)
    assert {u.id for u in units[:first_seed1]} >= {
        "train:sgd-seed0",
        "train:adam-seed0",
        "train:rmsprop-seed0",
        "eval:adam-seed0:autoattack-linf-0.01",
        "eval:rmsprop-seed0:noise-lipschitz",
    }
    assert len(units) == 9 * (1 + 4 + 4) and len(set(ids)) == len(ids)
    assert [u.state for u in units if u.kind == "train"] == ["left"] * 9
    assert all(u.state == "waiting" for u in units if u.kind == "evaluate")
    assert "0 done, 0 running, 9 left, 72 waiting of 81 units" in reproduce.ledger_table(units)


def test_budget_parsing():
    assert (
        reproduce.parse_budget("150m") == 150
        and reproduce.parse_budget("2.5h") == 150
        and reproduce.parse_budget("90") == 90
    )
    with pytest.raises(ConfigError, match="150m"):
        reproduce.parse_budget("soon")


def test_evaluation_done_needs_every_curve_on_the_same_images():
    ev = reproduce.FASHION_MNIST.evaluations[3]  # FGSM + PGD over the grid
    assert ev.key == "fgsm-pgd" and len(ev.curves) == 12
    attacks: dict = {}
    for label, eps in ev.curves:
        attacks.setdefault(label, {"eps": []})["eps"].append(eps)
    summary = {"eval": {"robust_accuracy": {"n": 1000, "attacks": attacks}}}
    assert ev.done(summary)
    summary["eval"]["robust_accuracy"]["n"] = 500
    assert not ev.done(summary)
    summary["eval"]["robust_accuracy"]["n"] = 1000
    summary["eval"]["robust_accuracy"]["attacks"]["pgd-l2"]["eps"] = [0.1]
    assert not ev.done(summary)


@pytest.mark.slow
def test_units_train_ship_evaluate_and_never_redo(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    results, work = tmp_path / "results" / "tiny", tmp_path / "work"
    units = reproduce.run_units(
        TINY, results, work, budget_min=10, jobs=2, precision="bf16", data_dir=tmp_path / "data", poll_s=0.5
    )
    states = {u.id: u.state for u in units}
    # the 30-minute unit does not fit a 10-minute budget; everything else ran and shipped
    assert states.pop("eval:sgd-seed0:pgd-large") == "left" and states.pop("eval:adam-seed0:pgd-large") == "left"
    assert set(states.values()) == {"done"}, states
    runs = sorted((results / "runs").iterdir())
    expected = sorted(reproduce.run_dirname(reproduce.train_overrides(TINY, opt, 0, "bf16")) for opt in TINY.optimizers)
    assert (
        [r.name for r in runs] == expected
        and "~" in expected[0]
        and "optimizer-sgd_precision-bf16_seed-0" in expected[1]
    )
    for run in runs:
        assert sorted(p.name for p in run.iterdir()) == sorted(reproduce.SHIPPED_RUN_FILES)  # no checkpoint, no pickle
        meta = json.loads((run / "meta.json").read_text())
        assert meta["status"] == "completed" and meta["precision"] == "bf16"
        summary = json.loads((run / "summary.json").read_text())
        assert set(summary["eval"]) == {"clean", "robust_accuracy"}
        assert summary["eval"]["robust_accuracy"]["attacks"]["pgd-linf"]["eps"] == [0.03]
        assert (
            summary["eval"]["robust_accuracy"]["n"] == 32
            and summary["eval"]["robust_accuracy"]["attacks"]["pgd-linf"]["correct"]
        )
        # the shipped weights are the training checkpoint's final weights, bitwise
        trained = load_checkpoint(work / "train" / run.name / "checkpoints" / "last.pt")["model"]
        shipped = load_weights(run / "model.safetensors")
        assert trained.keys() == shipped.keys() and all(torch.equal(trained[k], shipped[k]) for k in trained)
        assert (run / "config.yaml").read_text().count("root: data") == 1
    assert "| train:adam-seed0 | done |" in (results / "PROVENANCE.md").read_text()
    # running again redoes nothing: every unit that fits is shipped
    again = reproduce.run_units(TINY, results, work, budget_min=10, jobs=2, data_dir=tmp_path / "data", poll_s=0.5)
    assert {u.id: u.state for u in again} == {u.id: u.state for u in units}
    # the budget-sized unit runs once the budget allows it, and merges its eps point into the stored curve
    reproduce.run_units(TINY, results, work, budget_min=60, jobs=2, data_dir=tmp_path / "data", poll_s=0.5, only="sgd")
    sgd = next(r for r in runs if "optimizer-sgd" in r.name)
    curve = json.loads((sgd / "summary.json").read_text())["eval"]["robust_accuracy"]["attacks"]["pgd-linf"]
    assert curve["eps"] == [0.03, 0.3] and len(curve["correct"]) == 2

    # a shipped run is evaluated from its files alone, elsewhere, by the evaluation entry point and the notebook door
    copy = tmp_path / "elsewhere" / sgd.name
    shutil.copytree(sgd, copy)
    proc = run_entry(
        "evaluate.py",
        [f"run_dir={copy}", "evaluations=[clean]", "replace=true", "logger=none", "progress=false"],
        env={"WANDB_MODE": "disabled"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stored = json.loads((copy / "summary.json").read_text())["eval"]["clean"]
    model = load_run(copy)
    assert not any(p.requires_grad is False for p in model.parameters()) and not model.training
    x = torch.rand(4, 1, 16, 16)
    reference = load_run(sgd)
    assert torch.equal(model(x), reference(x))
    assert stored["accuracy"] == json.loads((sgd / "summary.json").read_text())["eval"]["clean"]["accuracy"]


def test_corrupted_shipped_weights_are_one_clear_error(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("dataset: {name: synthetic}\nmodel: {name: mlp}\n")
    (run / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupted or not a safetensors file"):
        load_run(run)
    with pytest.raises(CheckpointError, match="not a run folder"):
        load_run(tmp_path)
    assert RunDir(run).weights_path == run / "model.safetensors"


SHIPPED = REPO / "results" / "fashion_mnist"


def test_the_shipped_runs_are_finished_with_weights_and_above_88_percent():
    runs = reproduce.shipped_runs(SHIPPED, reproduce.FASHION_MNIST)
    assert runs, "results/fashion_mnist ships at least one finished run of the recipe"
    for (opt, seed), run in runs.items():
        meta, summary, cfg = run.meta(), run.summary(), run.config()
        assert meta["status"] == "completed" and summary["epochs_done"] == cfg["epochs"] == 200
        assert summary["test_accuracy"] >= 0.88, (opt, seed, summary["test_accuracy"])
        assert meta.get("precision") in ("fp32", "bf16") and meta["git"]["commit"]
        assert not (run.path / "checkpoints").exists()
        assert len(run.metrics()) == 200


@pytest.mark.slow
def test_a_fresh_clone_evaluates_a_shipped_run_from_its_files_alone(tmp_path, fashion_mnist_root):
    """A shipped run (config + model.safetensors, no checkpoint) copied elsewhere is evaluated by the evaluation entry
    point, and its weights give back the test accuracy its training logged at the last epoch (fp32, 10,000 images)."""
    run = next(iter(reproduce.shipped_runs(SHIPPED, reproduce.FASHION_MNIST).values()))
    copy = tmp_path / "runs" / run.path.name
    copy.mkdir(parents=True)
    for name in reproduce.SHIPPED_RUN_FILES:
        shutil.copy(run.path / name, copy / name)
    proc = run_entry(
        "evaluate.py",
        [
            f"run_dir={copy}",
            "evaluations=[clean]",
            f"data_dir={fashion_mnist_root}",
            "logger=none",
            "progress=false",
            "num_threads=1",
        ],
        env={"WANDB_MODE": "disabled"},
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    clean = json.loads((copy / "summary.json").read_text())["eval"]["clean"]
    assert clean["n"] == 10_000
    assert abs(clean["accuracy"] - run.summary()["test_accuracy"]) <= 3e-4  # at most 3 images flip (batching, layout)
    assert sorted(p.name for p in run.path.iterdir()) == sorted(
        reproduce.SHIPPED_RUN_FILES
    )  # the store was not touched


def test_path_overrides_holding_a_tilde_are_quoted_for_hydra():
    from robustopt.cli.app import quote_path_values

    assert quote_path_values(
        [
            "run_dir=results/fashion_mnist/runs/experiment-paper~fashion~mnist_optimizer-sgd",
            "evaluations=[clean]",
            "run_dir=outputs/runs",
            "data_dir='a~b'",
        ]
    ) == [
        "run_dir='results/fashion_mnist/runs/experiment-paper~fashion~mnist_optimizer-sgd'",
        "evaluations=[clean]",
        "run_dir=outputs/runs",
        "data_dir='a~b'",
    ]


@pytest.mark.slow
def test_shipping_a_unit_refreshes_the_readme_that_quotes_the_store(tmp_path):
    """A shipped unit changes the ledger and the tables; the README of the repository it ships into is regenerated with
    it (and committed with it), so that tests/test_readme_results.py never sees a README older than the store."""
    from paper_figures import readme_tables

    store = tmp_path / "repo" / "results" / "fashion_mnist"
    shutil.copytree(SHIPPED, store, ignore=shutil.ignore_patterns("figures", "*.png", "*.pdf"))
    stale = "<!-- results:fashion_mnist -->\nLedger: 0 of 9 training runs (stale)\n<!-- /results:fashion_mnist -->\n"
    readme = tmp_path / "repo" / "README.md"
    readme.write_text("# a clone\n\n" + stale + "\nafter\n")
    assert reproduce.refresh_readme(store, reproduce.FASHION_MNIST) == readme
    text = readme.read_text()
    assert text.startswith("# a clone\n\n") and text.endswith("\nafter\n") and "(stale)" not in text
    assert readme_tables.readme_blocks(text)["fashion_mnist"] == readme_tables.fashion_mnist(store)
    # a store outside a repository's results/ folder, or a README that does not quote it, is left alone
    assert reproduce.refresh_readme(tmp_path / "repo" / "results", reproduce.FASHION_MNIST) is None
    readme.write_text("# no tables\n")
    assert reproduce.refresh_readme(store, reproduce.FASHION_MNIST) is None and readme.read_text() == "# no tables\n"


def test_each_unit_gets_a_cpu_of_its_own():
    import os
    import subprocess
    import sys

    assert reproduce.free_cpu({0, 1}, set()) == 0 and reproduce.free_cpu({0, 1}, {0, None}) == 1
    assert reproduce.free_cpu({0, 1}, {0, 1}) is None and reproduce.free_cpu({3, 5}, {3}) == 5
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    cpu = max(os.sched_getaffinity(0))
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert reproduce._pin(proc.pid, cpu) == cpu and os.sched_getaffinity(proc.pid) == {cpu}
        assert reproduce._pin(proc.pid, None) is None
    finally:
        proc.kill()
        proc.wait()
    assert reproduce._pin(proc.pid, cpu) is None  # an ended process: unpinned, no error
