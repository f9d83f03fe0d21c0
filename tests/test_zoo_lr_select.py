"""Learning-rate selection on synthetic run histories (robustopt.train.lr_select)."""

from __future__ import annotations

import math

import pytest

from robustopt.errors import ConfigError
from robustopt.rundir import RunDir
from robustopt.train.lr_select import (
    learning_rate,
    lr_grid,
    lr_override,
    optimizer_label,
    score,
    select_from_runs,
    select_lr,
)

ADAM = {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999]}
LOOKAHEAD = {"name": "lookahead", "base": {"name": "sgd", "lr": 0.01, "momentum": 0.0}, "k": 5, "alpha": 0.5}


def test_grid_labels_and_overrides():
    assert lr_grid(1e-3) == [0.000333, 0.001, 0.003]
    assert lr_grid(0.01, (0.5, 2)) == [0.005, 0.02]
    assert optimizer_label(ADAM) == "adam" and optimizer_label(LOOKAHEAD) == "lookahead(sgd)"
    assert (
        optimizer_label({"name": "lookahead", "base": {"name": "sam", "base": {"name": "sgd", "lr": 1}}})
        == "lookahead(sam(sgd))"
    )
    assert learning_rate(ADAM) == 1e-3 and learning_rate(LOOKAHEAD) == 0.01
    assert lr_override(ADAM, 0.003) == "optimizer.lr=0.003"
    assert lr_override(LOOKAHEAD, 0.03) == "optimizer.base={name:sgd,lr:0.03}"
    with pytest.raises(ConfigError, match="must be > 0"):
        lr_grid(0)


def test_score_final_best_and_diverged():
    hist = [{"validation_accuracy": 0.5}, {"validation_accuracy": 0.8}, {"validation_accuracy": 0.7}]
    assert score(hist) == 0.7 and score(hist, rule="best") == 0.8
    assert score([{"validation_accuracy": float("nan")}]) == -math.inf
    assert score([{"test_accuracy": 0.9}]) == -math.inf, "no validation metric: never falls back to test accuracy"
    assert score([]) == -math.inf


def test_select_prefers_the_best_then_the_smaller_lr():
    assert select_lr({0.1: 0.7, 0.01: 0.9, 0.001: 0.8}) == 0.01
    assert select_lr({0.3: 0.9, 0.1: 0.9, 0.03: 0.85}) == 0.1
    assert select_lr({0.3: -math.inf, 0.1: -math.inf}) == 0.1


def _run(root, name, opt, accs, status="completed", seed=0, epochs=None):
    run = RunDir(root / name)
    run.write_config(
        {
            "dataset": {"name": "synthetic", "validation_size": 64},
            "seed": seed,
            "epochs": epochs or len(accs),
            "optimizer": opt,
            "device": "cpu",
        }
    )
    run.write_metrics([{"epoch": i + 1, "validation_accuracy": a, "test_accuracy": 1 - a} for i, a in enumerate(accs)])
    run.set_status(status)
    return run


def test_select_from_a_sweep_folder(tmp_path):
    _run(tmp_path, "a1", {**ADAM, "lr": 3.33e-4}, [0.6, 0.7])
    _run(tmp_path, "a2", {**ADAM, "lr": 1e-3}, [0.7, 0.8])
    _run(tmp_path, "a3", {**ADAM, "lr": 3e-3}, [0.9, float("nan")], status="diverged")
    _run(tmp_path, "l1", {**LOOKAHEAD, "base": {**LOOKAHEAD["base"], "lr": 0.01}}, [0.5, 0.75])
    _run(tmp_path, "l2", {**LOOKAHEAD, "base": {**LOOKAHEAD["base"], "lr": 0.03}}, [0.6, 0.75])
    chosen = select_from_runs(tmp_path)
    assert set(chosen) == {"adam", "lookahead(sgd)"}
    assert chosen["adam"]["lr"] == 1e-3 and chosen["adam"]["scores"][3e-3] == -math.inf
    assert chosen["adam"]["override"] == "optimizer.lr=0.001"
    assert chosen["lookahead(sgd)"]["lr"] == 0.01, "a tie goes to the smaller learning rate"
    # best-epoch rule
    assert select_from_runs(tmp_path, rule="best")["lookahead(sgd)"]["lr"] == 0.01
    # the test accuracy (1 - validation here) is never what is chosen on
    assert select_from_runs(tmp_path, metric="validation_accuracy")["adam"]["lr"] != 3.33e-4


def test_unfair_or_unfinished_sweeps_are_refused(tmp_path):
    _run(tmp_path, "a1", {**ADAM, "lr": 1e-3}, [0.6, 0.7])
    _run(tmp_path, "a2", {**ADAM, "lr": 3e-3}, [0.6, 0.7, 0.8])
    with pytest.raises(ConfigError, match="differ in more than their learning rate"):
        select_from_runs(tmp_path)
    other = tmp_path / "other"
    _run(other, "a1", {**ADAM, "lr": 1e-3}, [0.6], status="running")
    with pytest.raises(ConfigError, match="finish the sweep"):
        select_from_runs(other)
