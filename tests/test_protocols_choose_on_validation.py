"""No protocol reads test data to choose anything (issue 20): the matched-accuracy epoch and the zoo's learning rate are
chosen on the validation split; poisoning every test metric changes no choice, and a run without a validation metric
cannot be matched.  The zoo's matched table says when runs are not matched, and a choice at an edge of its grid is
marked and extended."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paper_figures import optimizer_zoo as zoo
from paper_figures.claims import protocol_text
from robustopt.errors import ConfigError
from robustopt.evaluation.matched import matched_epochs
from robustopt.rundir import RunDir
from robustopt.tracking.store import load_sweep
from robustopt.train.lr_select import edge_of_grid, next_lr, score, select_from_runs

VAL = {  # optimizer -> per-epoch validation accuracy (seed 0)
    "sgd": [0.50, 0.62, 0.70, 0.74],
    "adam": [0.71, 0.80, 0.83, 0.85],
    "rmsprop": [0.65, 0.69, 0.76, 0.80],
}


def _run(root, name, opt, val, test, seed=0, validation_size=64, lr=None):
    run = RunDir(root / name)
    run.write_config(
        {
            "dataset": {"name": "synthetic", "validation_size": validation_size},
            "model": {"name": "mlp"},
            "seed": seed,
            "epochs": len(test),
            "optimizer": {"name": opt, "lr": lr or 0.01},
        }
    )
    rows = []
    for i, t in enumerate(test):
        row = {"epoch": i + 1, "test_accuracy": t, "test_loss": 1 - t}
        if val is not None:
            row.update(validation_accuracy=val[i], validation_loss=1 - val[i])
        rows.append(row)
    run.write_metrics(rows)
    run.set_status("completed")
    return run


def _first_reaching(curve, target):
    """An independent transcription of the rule: the first epoch (1-based) whose value reaches the target."""
    return next(i + 1 for i, a in enumerate(curve) if a >= target)


@pytest.mark.parametrize("poison", ["reversed", "random", "constant"])
def test_the_matched_epoch_is_chosen_on_validation_and_poisoned_test_metrics_change_nothing(tmp_path, poison):
    rng = np.random.default_rng(0)
    honest = [_run(tmp_path / "honest", o, o, v, [a - 0.01 for a in v]) for o, v in VAL.items()]
    poisoned_test = {
        "reversed": lambda v: list(reversed(v)),
        "random": lambda v: list(rng.uniform(0.1, 1.0, len(v))),
        "constant": lambda v: [1.0] * len(v),
    }[poison]
    poisoned = [_run(tmp_path / "poisoned", o, o, v, poisoned_test(v)) for o, v in VAL.items()]
    target = min(v[-1] for v in VAL.values())  # 0.74: SGD's final validation accuracy
    expected = {o: _first_reaching(v, target) for o, v in VAL.items()}
    assert expected == {"sgd": 4, "adam": 2, "rmsprop": 3}
    for runs in (honest, poisoned):
        plan = matched_epochs(runs)
        got = {r.path.name: plan[str(r.path)].epoch for r in runs}
        assert got == expected
        for r in runs:
            m = plan[str(r.path)].as_dict()
            assert m["target_accuracy"] == target and m["selection_metric"] == "validation_accuracy"
            assert m["validation_accuracy_at_epoch"] == VAL[r.path.name][m["epoch"] - 1]
            # the test accuracy at that epoch is reported, never used to choose
            assert m["test_accuracy_at_epoch"] == r.metrics()[m["epoch"] - 1]["test_accuracy"]
            assert "64 validation images held out of training" in m["rule"] and "test" not in m["rule"]


def test_a_run_without_a_validation_split_cannot_be_matched(tmp_path):
    runs = [_run(tmp_path, o, o, None, v) for o, v in VAL.items()]
    with pytest.raises(
        ConfigError, match=r"records no validation_accuracy.*never on test data.*dataset.validation_size"
    ):
        matched_epochs(runs)


def test_a_fixed_target_is_a_validation_accuracy(tmp_path):
    runs = [_run(tmp_path, o, o, VAL[o], [1.0] * 4) for o in ("adam", "rmsprop")]  # every test accuracy: 1.0 at epoch 1
    plan = matched_epochs(runs, 0.8)
    assert {r.path.name: plan[str(r.path)].epoch for r in runs} == {"adam": 2, "rmsprop": 4}
    assert "reaches 0.8" in plan[str(runs[0].path)].rule
    with pytest.raises(ConfigError, match="never reaches the matched target validation accuracy"):
        matched_epochs([_run(tmp_path / "low", "sgd", "sgd", VAL["sgd"], [1.0] * 4)], 0.8)


def test_the_learning_rate_is_chosen_on_validation_and_poisoned_test_metrics_change_nothing(tmp_path):
    val = {0.001: [0.5, 0.6], 0.003: [0.6, 0.7], 0.01: [0.55, 0.65]}
    for root, test in (("honest", lambda v: v), ("poisoned", lambda v: [1 - a for a in v])):
        for lr, v in val.items():
            _run(tmp_path / root, f"adam-{lr}", "adam", v, test(v), lr=lr)
    honest = select_from_runs(tmp_path / "honest")["adam"]
    assert honest["lr"] == select_from_runs(tmp_path / "poisoned")["adam"]["lr"] == 0.003
    assert honest["edge"] is None and honest["seed"] == 0
    for metric in ("test_accuracy", "test_loss"):
        with pytest.raises(ConfigError, match="cannot choose on"):
            select_from_runs(tmp_path / "honest", metric=metric)
        with pytest.raises(ConfigError, match="cannot choose on"):
            score([{"test_accuracy": 0.9}], metric)


def test_an_edge_of_the_grid_is_marked_and_the_next_lr_lies_beyond_it(tmp_path):
    assert edge_of_grid({0.001: 0.5, 0.003: 0.6, 0.01: 0.7}, 0.01) == "high"
    assert edge_of_grid({0.001: 0.7, 0.003: 0.6, 0.01: 0.5}, 0.001) == "low"
    assert edge_of_grid({0.001: 0.5, 0.003: 0.7, 0.01: 0.6}, 0.003) is None
    assert edge_of_grid({0.001: 0.5}, 0.001) is None  # one point: no grid to be at the edge of
    assert edge_of_grid({0.001: -math.inf, 0.003: -math.inf}, 0.001) is None  # all diverged: nothing to extend
    assert next_lr({0.001: 0, 0.003: 0, 0.01: 0}, "high") == 0.03
    assert next_lr({0.001: 0, 0.003: 0, 0.01: 0}, "low") == 0.000333
    for lr, v in {0.001: [0.5, 0.6], 0.003: [0.6, 0.7]}.items():
        _run(tmp_path, f"adam-{lr}", "adam", v, v, lr=lr)
    choice = select_from_runs(tmp_path)["adam"]
    assert choice["edge"] == "high"
    assert "edge of grid (largest tried)" in zoo.lr_cell(choice)
    assert "edge" not in zoo.lr_cell({**choice, "lr": 0.003, "edge": None})


def test_cli_extend_prints_the_next_lr_of_each_optimizer_at_an_edge(tmp_path, capsys):
    from robustopt.cli import zoo as zoo_cli

    for lr, v in {0.001: [0.5, 0.6], 0.003: [0.6, 0.7]}.items():
        _run(tmp_path, f"adam-{lr}", "adam", v, v, lr=lr)
    for lr, v in {0.001: [0.5, 0.6], 0.003: [0.6, 0.7], 0.01: [0.5, 0.55]}.items():
        _run(tmp_path, f"sgd-{lr}", "sgd", v, v, lr=lr)
    assert zoo_cli.extend(str(tmp_path)) == "optimizer=adam optimizer.lr=0.009"


def _zoo_store(root, overshoot):
    """Two optimizers x 3 seeds with matched records: each run ``overshoot[opt]`` above its seed's target."""
    for opt, over in overshoot.items():
        for seed in range(3):
            run = RunDir(root / f"{opt}-{seed}")
            run.write_config(
                {
                    "dataset": {"name": "fashion_mnist"},
                    "model": {"name": "c2"},
                    "seed": seed,
                    "optimizer": {"name": opt, "lr": 0.01},
                    "epochs": 2,
                }
            )
            ev = {"clean": {"accuracy": 0.7, "n": 1000}}
            run.update_summary(
                {
                    "eval": ev,
                    "epochs_done": 2,
                    "test_accuracy": 0.7,
                    "matched": {
                        "epoch": 1,
                        "target_accuracy": 0.5,
                        "validation_accuracy_at_epoch": 0.5 + over,
                        "rule": "each run at the first epoch whose accuracy on the 1,000 validation "
                        "images held out of training reaches X",
                        "eval": ev,
                    },
                }
            )
            run.set_status("completed")
    return root


def test_the_zoo_matched_table_says_when_runs_are_not_matched_and_the_verdict_is_inconclusive(tmp_path):
    sweep = zoo.relabel(load_sweep(_zoo_store(tmp_path / "off", {"sgd": 0.0, "adam": 0.30})))
    matched = zoo.relabel(sweep.as_protocol("matched"))
    header, rows = zoo.table(matched, "fashion_mnist")
    by = {r[0]: r for r in rows}
    assert "tolerance 2" in header[2]
    assert by["adam"][2] == "+30.0 / +30.0 / +30.0 **not matched**" and by["sgd"][2] == "+0.0 / +0.0 / +0.0"
    assert len(zoo.unmatched(matched.runs)) == 3
    assert "validation images held out of training" in protocol_text(matched)
    corr = zoo.Correlation("top_eigenvalue", "robust_linf", -0.9, -0.99, -0.5, 6, (), 2)
    v = zoo.verdict_sharper_less_robust(corr, zoo.unmatched(matched.runs), len(matched.runs))
    assert v.label == "inconclusive" and "not matched: 3 of 6 runs" in v.reason and "up to 30.0" in v.reason
    assert zoo.verdict_sharper_less_robust(corr).label == "holds"  # the same interval, matched: decides
    # the final-epoch table has no such column
    header, _ = zoo.table(sweep, "fashion_mnist")
    assert not any("target" in h for h in header)


def test_protocol_sentences_come_from_what_the_runs_recorded(tmp_path):
    sweep = load_sweep(_zoo_store(tmp_path / "s", {"sgd": 0.0}))
    assert protocol_text(sweep) == "final epoch (the paper's protocol; epoch 2)"
    text = protocol_text(sweep.as_protocol("matched"))
    assert text.startswith("matched standard accuracy (each run at the first epoch whose accuracy on the 1,000")
    old = RunDir(tmp_path / "s" / "sgd-0")
    s = old.summary()
    s["matched"]["rule"] = "first epoch reaching the lowest final test accuracy among the optimizers of the same seed"
    old.update_summary({"matched": s["matched"]})
    assert "lowest final test accuracy" in protocol_text(load_sweep(tmp_path / "s").as_protocol("matched"))


def test_the_zoo_is_a_finding_only_at_a_budget_that_can_make_one(tmp_path):
    sweep = load_sweep(_zoo_store(tmp_path / "small", {"sgd": 0.0, "adam": 0.0}))  # 70 % accuracy, no attack
    assert zoo.heading(sweep).startswith("a demonstration of the pipeline, not a finding (2 epochs")
    for run in sweep.runs:
        run.summary["eval"] = {"clean": {"accuracy": 0.9, "n": 1000}, "robust_accuracy": {"n": 500, "attacks": {}}}
    assert zoo.heading(sweep) == (
        "2 epochs, standard accuracy 90.0-90.0 % (optimizer means on 1,000 test images), attacks on 500 images"
    )
    sweep.runs[0].summary["eval"]["robust_accuracy"]["n"] = 25
    assert "not a finding" in zoo.heading(sweep)
