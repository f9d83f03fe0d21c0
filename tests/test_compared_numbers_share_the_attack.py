"""Two numbers compared side by side come from the same attack (issue 20: 'compared with another number measured on
the same images'): a run with AutoAttack beside one with PGD only is compared under PGD, never AutoAttack vs PGD."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_figures.figure1_data import common_attack, figure1_accuracy, figure1_setting, robust_accuracy, stored_eps
from robustopt.bits import encode_mask
from robustopt.tracking.store import Run, Sweep


def _curve(name, norm, acc, n=8):
    correct = [encode_mask(np.arange(n) < round(a * n)) for a in acc]
    return {"name": name, "norm": norm, "eps": [0.01, 0.03][: len(acc)], "robust_accuracy": acc, "correct": correct}


def _run(opt, attacks):
    ev = {
        "robust_accuracy": {
            "n": 8,
            "clean_correct": encode_mask(np.ones(8, bool)),
            "attacks": {f"{a['name']}-{a['norm']}": a for a in attacks},
        },
        "gaussian_noise": {"variances": [0.01], "accuracy": [1.0], "correct": [encode_mask(np.ones(8, bool))]},
    }
    return Run(
        Path(f"/x/{opt}"), "fashion_mnist", opt, 0, {"seed": 0}, {"eval": ev, "epochs_done": 2, "test_accuracy": 1.0}
    )


def test_a_run_with_autoattack_beside_one_with_pgd_only_is_compared_under_pgd():
    sgd = _run("sgd", [_curve("autoattack", "linf", [0.25]), _curve("pgd", "linf", [0.5, 0.25])])
    adam = _run("adam", [_curve("pgd", "linf", [0.375, 0.125])])
    sweep = Sweep([Path("/x")], [sgd, adam])
    assert common_attack(sweep.runs, "linf") == "pgd" and common_attack([sgd], "linf") == "autoattack"
    assert robust_accuracy(sgd, "linf", 0.01) == 0.25  # alone: its strongest attack
    assert robust_accuracy(sgd, "linf", 0.01, "pgd") == 0.5
    assert stored_eps(sweep, "fashion_mnist", "linf") == [0.01, 0.03]  # PGD's grid, which both store
    setting = figure1_setting(sweep, "fashion_mnist")
    assert setting.attack_linf == "pgd" and setting.eps_linf == 0.01 and setting.n_images == 8
    assert figure1_accuracy(sgd, "linf", setting) == 0.5 and figure1_accuracy(adam, "linf", setting) == 0.375
    # once both store AutoAttack, it is what they are compared under
    adam2 = _run("adam", [_curve("autoattack", "linf", [0.125]), _curve("pgd", "linf", [0.375, 0.125])])
    both = Sweep([Path("/x")], [sgd, adam2])
    setting = figure1_setting(both, "fashion_mnist")
    assert setting.attack_linf == "autoattack"
    assert figure1_accuracy(sgd, "linf", setting) == 0.25 and figure1_accuracy(adam2, "linf", setting) == 0.125
