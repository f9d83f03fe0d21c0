"""paper_figures/precision.py: the bf16-against-fp32 evidence, on a synthetic results store, checked against an
independent computation (numpy/scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from paper_figures import precision
from robustopt.bits import encode_mask
from robustopt.rundir import RunDir


def _run(root, opt, seed, prec, metrics=None, robust=None, n=40):
    run = RunDir(root / f"{opt}-{seed}-{prec}")
    run.write_config(
        {
            "optimizer": {"name": opt},
            "seed": seed,
            "precision": prec,
            "dataset": {"name": "fashion_mnist"},
            "epochs": 2,
            "batch_size": 128,
        }
    )
    run.update_meta(status="completed")
    if metrics:
        run.write_metrics([{"epoch": i + 1, "test_accuracy": a} for i, a in enumerate(metrics)])
    if robust is not None:
        clean, adv = robust
        run.write_eval(
            "robust_accuracy",
            {
                "dataset": "fashion_mnist",
                "n": n,
                "clean_accuracy": float(np.mean(clean)),
                "clean_correct": encode_mask(np.array(clean, bool)),
                "attacks": {
                    "pgd-linf": {
                        "name": "pgd",
                        "norm": "linf",
                        "options": {},
                        "eps": [0.03],
                        "robust_accuracy": [float(np.mean(adv))],
                        "correct": [encode_mask(np.array(adv, bool))],
                    }
                },
            },
        )
    return run


def test_tracking_quotes_the_largest_difference_over_the_first_epochs(tmp_path):
    ref = [0.80, 0.85, 0.87, 0.88, 0.90]
    bf16 = [0.81, 0.84, 0.875, 0.90, 0.50]  # epoch 5 (beyond --epochs 4) must not count
    _run(tmp_path / "runs", "sgd", 0, "bf16", bf16)
    _run(tmp_path / "ref", "sgd", 0, "fp32", ref[:4] + [0.9])
    out = precision.tracking(tmp_path / "runs", tmp_path / "ref", epochs=4)["sgd"]
    assert out["epochs"] == 4 and out["max_abs_diff_epoch"] == 4
    assert out["max_abs_diff_points"] == pytest.approx(2.0)
    assert out["mean_abs_diff_points"] == pytest.approx(np.mean(np.abs(np.subtract(bf16[:4], ref[:4]))) * 100)


def test_short_schedule_pairs_seeds_on_the_same_images_with_a_t_interval(tmp_path):
    rng = np.random.default_rng(0)
    diffs = []
    for seed in range(3):
        clean = rng.random(40) < 0.9
        a_f = clean & (rng.random(40) < 0.6)
        a_b = clean & (rng.random(40) < 0.6)
        _run(tmp_path, "adam", seed, "fp32", robust=(clean, a_f))
        _run(tmp_path, "adam", seed, "bf16", robust=(clean, a_b))
        diffs.append(a_b.mean() - a_f.mean())
    row = precision.short_schedule(tmp_path)["rows"]["adam"]["pgd-linf eps=0.03"]
    half = st.t.ppf(0.975, 2) * np.std(diffs, ddof=1) / np.sqrt(3)
    assert row["mean_diff"] == pytest.approx(np.mean(diffs))
    assert (row["low"], row["high"]) == pytest.approx((np.mean(diffs) - half, np.mean(diffs) + half))
    assert row["contains_zero"] == (np.mean(diffs) - half <= 0 <= np.mean(diffs) + half)
    assert row["n_images"] == 40 and row["seeds"] == [0, 1, 2]
    track = {
        "adam": {
            "epochs": 1,
            "max_abs_diff_points": 0.0,
            "max_abs_diff_epoch": 1,
            "mean_abs_diff_points": 0.0,
            "mean_diff_points": 0.0,
        }
    }
    text = precision.report(track, precision.short_schedule(tmp_path))
    assert "pgd-linf eps=0.03" in text and "| 40 |" in text and "cut to 2 epochs (batch 128" in text


def test_a_missing_store_is_one_clear_error(tmp_path, capsys):
    code = precision.main(
        ["--runs", str(tmp_path), "--reference", str(tmp_path), "--short", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert code == 2 and "no bf16 run" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
