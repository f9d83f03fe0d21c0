"""The sweep collector: one table of every job of a multirun, failed and missing jobs by their overrides,
mean ± std over seeds; the on_multirun_end callback; the separate command on a partial sweep; joblib."""

from __future__ import annotations

import csv
import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robustopt.cli.sweep import collect, expected_jobs
from robustopt.rundir import RunDir
from robustopt.tracking.sweep import format_report
from tests.conftest import REPO, run_entry

SYN = ["dataset=synthetic", "logger=none", "progress=false", "scheduler=constant", "num_threads=1"]


def _write_multirun_yaml(sweep: Path, task: list[str], params: dict | None = None) -> None:
    sweep.mkdir(parents=True, exist_ok=True)
    cfg = {
        "hydra": {
            "sweeper": {
                "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                "max_batch_size": None,
                "params": params,
            },
            "overrides": {"task": task, "hydra": []},
        }
    }
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _fake_job(sweep: Path, subdir: str, overrides: list[str], status: str | None, acc: float = 0.0, **summary) -> Path:
    """A job directory as Hydra and train_run leave it (status None: Hydra started it, training never did)."""
    d = sweep / subdir
    (d / ".hydra").mkdir(parents=True)
    (d / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status is None:
        (d / "train.log").write_text("[2026-01-01 00:00:00,000][robustopt][ERROR] - epochs must be >= 1, got 0\n")
        return d
    ov = dict(o.split("=", 1) for o in overrides)
    run = RunDir(d)
    run.write_config(
        {
            "optimizer": {"name": ov["optimizer"], "lr": 0.1},
            "seed": int(ov["seed"]),
            "epochs": 2,
            "dataset": {"name": "synthetic"},
            "model": {"name": "c2"},
        }
    )
    run.update_meta(status=status, starts=1, **({"error": "RuntimeError: out of memory"} if status == "failed" else {}))
    if status in ("completed", "diverged"):
        run.update_summary({"test_accuracy": acc, "test_loss": 1 - acc, "epochs_done": 2, **summary})
    return d


def test_expected_jobs_match_hydras_cartesian_product(tmp_path):
    _write_multirun_yaml(tmp_path, ["optimizer=sgd,adam,rmsprop", "seed=0,1", "epochs=3"])
    jobs = expected_jobs(tmp_path)
    want = [
        [f"optimizer={o}", f"seed={s}", "epochs=3"] for o, s in itertools.product(["sgd", "adam", "rmsprop"], [0, 1])
    ]
    assert jobs == want
    # hydra.sweeper.params (irrelevant_freq's style) come first, then the command line
    _write_multirun_yaml(
        tmp_path / "p",
        ["seed=0,1"],
        {"optimizer": "sgd", "data_filter": "{name:null,keep_fraction:1.0},{name:low_energy,keep_fraction:0.5}"},
    )
    jobs = expected_jobs(tmp_path / "p")
    assert len(jobs) == 4
    assert jobs[0] == ["optimizer=sgd", "data_filter={name:null,keep_fraction:1.0}", "seed=0"]
    assert expected_jobs(tmp_path / "nothing-here") is None


def test_collect_partial_sweep_table_failures_and_mean_std(tmp_path):
    sweep = tmp_path / "sweep"
    _write_multirun_yaml(sweep, ["optimizer=sgd,adam", "seed=0,1,2"])
    accs = {("sgd", 0): 0.91, ("sgd", 1): 0.87, ("sgd", 2): 0.80, ("adam", 0): 0.95, ("adam", 1): 0.90}
    robust = {
        "attacks": {"pgd-linf": {"norm": "linf", "eps": [0.01, 0.03], "robust_accuracy": [0.5, 0.25]}},
        "clean_accuracy": 0.9,
    }
    for (opt, seed), acc in accs.items():
        extra = {"eval": {"robust_accuracy": robust}} if (opt, seed) == ("sgd", 0) else {}
        _fake_job(
            sweep, f"optimizer-{opt}_seed-{seed}", [f"optimizer={opt}", f"seed={seed}"], "completed", acc, **extra
        )
    # a failed job of an earlier sweep into the same folder, in a nested layout: found by its overrides
    failed = _fake_job(sweep, "nested/x", ["optimizer=sgd", "seed=9"], "failed")
    (sweep / "optimizer-adam_seed-2").mkdir()  # adam seed 2: no .hydra at all -> missing
    result = collect(sweep)

    by = {tuple(j.overrides): j for j in result.jobs}
    assert result.expected == 6 and len(result.jobs) == 7
    assert by[("optimizer=adam", "seed=2")].status == "missing"
    assert by[("optimizer=sgd", "seed=9")].status == "failed" and by[("optimizer=sgd", "seed=9")].run_dir == failed
    assert sorted(" ".join(j.overrides) for j in result.unfinished) == ["optimizer=adam seed=2", "optimizer=sgd seed=9"]

    # mean ± std (sample std, ddof=1) per optimizer over its finished seeds, checked against numpy
    rows = {r["group"]: r for r in result.summary}
    for opt in ("sgd", "adam"):
        vals = np.array([a for (o, _), a in accs.items() if o == opt])
        cell = rows[f"optimizer={opt}"]["summary.test_accuracy"]
        assert cell["n"] == len(vals) and rows[f"optimizer={opt}"]["runs"] == len(vals)
        assert cell["mean"] == pytest.approx(vals.mean()) and cell["std"] == pytest.approx(vals.std(ddof=1))
    assert rows["optimizer=sgd"]["robust.pgd-linf.mean"]["mean"] == pytest.approx(0.375)

    # the CSV and JSON next to multirun.yaml, written atomically (no temp files left)
    assert result.csv_path == sweep / "sweep_results.csv" and result.json_path == sweep / "sweep_results.json"
    assert not list(sweep.glob(".*.tmp"))
    with open(result.csv_path) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 7
    row = next(r for r in table if r["overrides"] == "optimizer=sgd seed=0")
    assert row["status"] == "completed" and float(row["summary.test_accuracy"]) == 0.91
    assert row["run_dir"] == "optimizer-sgd_seed-0" and float(row["robust.pgd-linf@0.03"]) == 0.25
    assert "config.optimizer.name" in row and "config.seed" in row
    doc = json.loads(result.json_path.read_text())
    assert doc["counts"] == {"completed": 5, "failed": 1, "missing": 1}
    assert {(" ".join(u["overrides"]), u["status"]) for u in doc["unfinished"]} == {
        ("optimizer=adam seed=2", "missing"),
        ("optimizer=sgd seed=9", "failed"),
    }
    assert next(u for u in doc["unfinished"] if u["status"] == "failed")["error"] == "RuntimeError: out of memory"

    report = format_report(result)
    assert "7 jobs of 6 expected" in report and "[missing] optimizer=adam seed=2" in report
    assert f"{np.mean([0.91, 0.87, 0.80]):.4f} ± {np.std([0.91, 0.87, 0.80], ddof=1):.4f}" in report


def test_callback_writes_the_table(tmp_path):
    from omegaconf import OmegaConf

    from robustopt.cli.callbacks import CollectSweep

    sweep = tmp_path / "sweep"
    _write_multirun_yaml(sweep, ["optimizer=sgd", "seed=0,1"])
    for s in (0, 1):
        _fake_job(sweep, f"s{s}", ["optimizer=sgd", f"seed={s}"], "diverged" if s else "completed", 0.5)
    CollectSweep().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["counts"] == {"completed": 1, "diverged": 1} and doc["unfinished"] == []
    # a sweep folder that vanished is a warning, not an exception at the end of a finished sweep
    CollectSweep().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "gone")}}}))


@pytest.mark.slow
def test_failed_job_does_not_stop_the_sweep_and_the_command_lists_it(out_dir, capsys):
    """A job that fails for a real reason while running (its data set's files are missing: config errors such as
    epochs=0 are refused before any job starts) is recorded; the other job runs; Hydra then skips
    on_multirun_end, and scripts/collect_sweep.py lists the failed job by its overrides."""
    empty = out_dir.parent / "no_data"
    empty.mkdir(exist_ok=True)
    res = run_entry(
        "train.py",
        [
            "-m",
            "dataset=synthetic,mnist",
            *SYN[1:],
            "epochs=1",
            "optimizer=sgd",
            f"paths.data_dir={empty}",
            f"paths.output_dir={out_dir}",
        ],
    )
    assert res.returncode != 0
    sweep = out_dir / "multiruns" / "default"
    assert RunDir(sweep / "dataset-synthetic_epochs-1_optimizer-sgd_scheduler-constant").status == "completed"
    assert not (sweep / "sweep_results.json").exists(), "Hydra runs on_multirun_end only when every job succeeded"
    cmd = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "collect_sweep.py"), str(sweep)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cmd.returncode == 1, cmd.stderr
    listed = [line for line in cmd.stdout.splitlines() if line.strip().startswith("[no_result]")]
    assert len(listed) == 1 and " dataset=mnist " in listed[0] and "optimizer=sgd" in listed[0]
    assert "MNIST" in listed[0] and str(empty) in listed[0], listed[0]
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["counts"] == {"completed": 1, "no_result": 1}
    spec = importlib.util.spec_from_file_location("collect_sweep", REPO / "scripts" / "collect_sweep.py")
    command = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(command)
    assert command.main([str(out_dir / "nope")]) == 2 and "does not exist" in capsys.readouterr().err

    # joblib runs both jobs in one reused process (n_jobs=1): the second job must not inherit anything from
    # the first, so its weights equal the same job run first in a fresh process (above)
    out2 = out_dir.parent / "joblib"
    res = run_entry(
        "train.py",
        [
            "-m",
            "launcher=joblib",
            "hydra.launcher.n_jobs=1",
            *SYN,
            "epochs=1",
            "optimizer=adam,sgd",
            f"paths.output_dir={out2}",
        ],
    )
    assert res.returncode == 0, res.stderr[-2000:]
    sweep2 = out2 / "multiruns" / "default"
    name = "dataset-synthetic_epochs-1_optimizer-sgd_scheduler-constant"
    a = torch.load(sweep / name / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(sweep2 / name / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert RunDir(sweep2 / name).meta()["cpu_threads"] == 1
    doc = json.loads((sweep2 / "sweep_results.json").read_text())  # this sweep succeeded: the callback ran
    assert doc["counts"] == {"completed": 2}
    assert "Mean ± std over seeds" in res.stdout


@pytest.mark.slow
def test_joblib_gpu_launcher_runs_jobs_at_once_with_their_share_of_threads(tmp_path):
    """launcher=joblib_gpu: N jobs at once (ROBUSTOPT_N_JOBS), device cuda, each job the threads of one of N jobs
    (checked here with device=cpu, as CI has no GPU)."""
    from robustopt.devices import available_cpus

    env = {"ROBUSTOPT_N_JOBS": "2"}
    res = run_entry(
        "train.py",
        [
            "-m",
            "launcher=joblib_gpu",
            *SYN[:-1],
            "epochs=1",
            "optimizer=sgd,adam",
            "device=cpu",
            f"paths.output_dir={tmp_path}",
        ],
        env=env,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "n_jobs=2" in res.stderr + res.stdout
    runs = [RunDir(p.parent) for p in (tmp_path / "multiruns").rglob("meta.json")]
    assert len(runs) == 2
    for run in runs:
        assert run.config()["channels_last"] is True
        assert (
            1 <= run.meta()["cpu_threads"] <= max(1, available_cpus() // 2)
        )  # its share of the machine, never all of it


def test_sweep_tables_read_a_wrapper_optimizers_lr_from_its_base():
    """The sweep table reads learning rates with robustopt.train.lr_select.learning_rate (a wrapper's is its base's)."""
    from robustopt.errors import ConfigError
    from robustopt.tracking import compare

    learning_rate = compare.learning_rate
    assert learning_rate({"name": "adam", "lr": 0.001}) == 0.001
    assert (
        learning_rate({"name": "lookahead", "k": 5, "base": {"name": "sam", "base": {"name": "sgd", "lr": 0.1}}}) == 0.1
    )
    with pytest.raises(ConfigError, match="no learning rate"):
        learning_rate({"name": "lookahead", "base": "adam"})
