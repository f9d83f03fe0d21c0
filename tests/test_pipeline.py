"""The training pipeline end to end on the synthetic set: identical initial weights and data order
across optimizers, bitwise resume after a real SIGKILL, divergence, corrupted checkpoints,
W&B offline logs, evaluation, multiruns."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from robustopt.rundir import RunDir, find_runs
from robustopt.tracking import load_runs
from tests.conftest import compose, run_entry, run_killed_training
from tests.wandb_offline import read_offline_run

SYN = ["dataset=synthetic", "epochs=3", "logger=none", "progress=false", "scheduler=constant"]


def _cfg(out_dir, *extra):
    return compose("train", [*SYN, f"paths.output_dir={out_dir}", *extra])


@pytest.mark.slow
def test_optimizers_start_from_identical_weights_and_see_the_same_batches(tmp_path, monkeypatch):
    """Spy on fit(): record the starting weights and every label batch of every epoch per optimizer."""
    import robustopt.train.pipeline as pipeline

    seen = {}
    real_fit = pipeline.fit

    def spy(model, optimizer, batches, test, **kw):
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        order = [torch.cat([yb for _, yb in batches.epoch(e)]) for e in range(kw["epochs"])]
        xs = torch.cat([xb for xb, _ in batches.epoch(1)])
        seen[type(optimizer).__name__] = (state, order, xs)
        return real_fit(model, optimizer, batches, test, **kw)

    monkeypatch.setattr(pipeline, "fit", spy)
    out = tmp_path / "out"
    for opt in ("sgd", "adam", "rmsprop"):
        cfg = _cfg(out, f"optimizer={opt}", "epochs=2")
        pipeline.train_run(cfg, tmp_path / opt)
    (s0, o0, x0), (s1, o1, x1), (s2, o2, x2) = seen["SGD"], seen["Adam"], seen["RMSprop"]
    for k in s0:
        assert torch.equal(s0[k], s1[k]) and torch.equal(s0[k], s2[k]), k
    for e in range(2):
        assert torch.equal(o0[e], o1[e]) and torch.equal(o0[e], o2[e])
    assert torch.equal(x0, x1) and torch.equal(x0, x2)
    assert not torch.equal(o0[0], o0[1]), "each epoch must be a fresh permutation"
    inits = {RunDir(tmp_path / o).meta()["init"]["sha256"] for o in ("sgd", "adam", "rmsprop")}
    assert len(inits) == 1
    # and the weights after training differ (the optimizers really were different)
    finals = [torch.load(RunDir(tmp_path / o).checkpoint_path, weights_only=True)["model"] for o in ("sgd", "adam")]
    assert not torch.equal(finals[0]["net.conv1.weight"], finals[1]["net.conv1.weight"])


def test_init_seed_and_data_seed_are_independent(tmp_path):
    from robustopt.train.pipeline import build_training

    def first(cfg):
        training = build_training(cfg, torch.device("cpu"))
        return training.model.state_dict()["net.conv1.weight"].clone(), next(iter(training.batches.epoch(0)))[1]

    w_a, y_a = first(_cfg(tmp_path, "init_seed=1", "data_seed=5"))
    w_b, y_b = first(_cfg(tmp_path, "init_seed=1", "data_seed=6"))
    w_c, y_c = first(_cfg(tmp_path, "init_seed=2", "data_seed=5"))
    assert torch.equal(w_a, w_b) and not torch.equal(w_a, w_c)
    assert torch.equal(y_a, y_c) and not torch.equal(y_a, y_b)


def _final_weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


@pytest.mark.slow
def test_run_killed_mid_epoch_resumes_bitwise_identical(out_dir):
    args = [*SYN, "epochs=3", "optimizer=adam", f"paths.output_dir={out_dir}"]
    ref = run_entry("train.py", [*args, "hydra.run.dir=" + str(out_dir / "ref")])
    assert ref.returncode == 0, ref.stderr[-2000:]
    # 1024 images / batch 128 = 8 steps per epoch: step 12 is in the middle of epoch 2
    target = out_dir / "killed"
    killed = run_killed_training(12, [*args, f"hydra.run.dir={target}"])
    assert killed.returncode == -signal.SIGKILL
    run = RunDir(target)
    assert run.status == "running"
    assert [m["epoch"] for m in run.metrics()] == [1]
    assert torch.load(run.checkpoint_path, weights_only=True)["epoch"] == 1
    assert not list(run.checkpoint_dir.glob("*.tmp")), "no half-written checkpoint may be left"
    resumed = run_entry("train.py", [*args, f"hydra.run.dir={target}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming" in (target / "train.log").read_text()
    assert run.status == "completed" and run.summary()["resumed_from_epoch"] == 1
    a, b = _final_weights(out_dir / "ref"), _final_weights(target)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    assert [m["test_loss"] for m in run.metrics()] == [m["test_loss"] for m in RunDir(out_dir / "ref").metrics()]
    # a third run of the same command finds the run complete and changes nothing
    again = run_entry("train.py", [*args, f"hydra.run.dir={target}"])
    assert again.returncode == 0 and torch.equal(_final_weights(target)["net.conv1.weight"], b["net.conv1.weight"])


@pytest.mark.slow
def test_corrupted_checkpoint_is_a_clear_error_and_is_kept(out_dir):
    target = out_dir / "run"
    args = [*SYN, "epochs=2", f"paths.output_dir={out_dir}", f"hydra.run.dir={target}"]
    killed = run_killed_training(10, args)
    assert killed.returncode == -signal.SIGKILL
    ckpt = target / "checkpoints" / "last.pt"
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])  # truncated, as by a full disk
    res = run_entry("train.py", args)
    assert res.returncode == 2
    assert "corrupted" in res.stderr and str(ckpt) in res.stderr
    assert "Traceback" not in res.stderr
    assert ckpt.read_bytes() == good[: len(good) // 2], "the damaged checkpoint must not be overwritten"


def test_divergence_stops_cleanly(tmp_path):
    from robustopt.train.pipeline import train_run

    cfg = _cfg(tmp_path, "optimizer.lr=1e30")
    result = train_run(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    assert result.status == "diverged" and run.status == "diverged"
    assert run.summary()["diverged_at"]["epoch"] == 1
    for row in run.metrics():  # nothing non-finite is recorded as a metric
        assert all(v == v and abs(v) != float("inf") for v in row.values() if isinstance(v, float))


def test_resume_refuses_a_different_config(tmp_path):
    from robustopt.errors import ConfigError
    from robustopt.train.pipeline import train_run

    train_run(_cfg(tmp_path, "epochs=1"), tmp_path / "run")
    with pytest.raises(ConfigError, match="different config.*optimizer.lr"):
        train_run(_cfg(tmp_path, "epochs=1", "optimizer.lr=0.5"), tmp_path / "run")


@pytest.mark.slow
def test_run_directory_records_everything(tmp_path):
    from robustopt.cli.train import train_and_evaluate

    cfg = _cfg(tmp_path, "seed=3", "evaluations=[clean]")
    train_and_evaluate(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    meta, summary, metrics = run.meta(), run.summary(), run.metrics()
    assert run.config()["optimizer"]["name"] == "sgd" and run.config()["seed"] == 3
    assert meta["seed"] == meta["init_seed"] == meta["data_seed"] == 3
    assert meta["status"] == "completed" and meta["device"] == "cpu"
    assert meta["git"]["commit"] is None or len(meta["git"]["commit"]) == 40
    assert meta["versions"]["torch"] == torch.__version__
    assert Path(meta["init"]["path"]).exists()
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    # the clean evaluation is an independent pass over the test set: it must equal the last epoch's test metrics
    assert summary["eval"]["clean"]["accuracy"] == pytest.approx(metrics[-1]["test_accuracy"])
    assert summary["eval"]["clean"]["loss"] == pytest.approx(metrics[-1]["test_loss"], rel=1e-5)
    assert summary["test_accuracy"] == metrics[-1]["test_accuracy"]


@pytest.mark.slow
def test_wandb_offline_log_reads_back(out_dir):
    target = out_dir / "wb"
    res = run_entry(
        "train.py",
        [
            *SYN,
            "epochs=2",
            "logger=wandb",
            "optimizer=rmsprop",
            "seed=1",
            f"paths.output_dir={out_dir}",
            f"hydra.run.dir={target}",
        ],
        env={"WANDB_MODE": "offline"},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    files = list(target.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 1
    logged = read_offline_run(files[0])
    run = RunDir(target)
    assert logged["run"]["group"] == "default" and logged["run"]["job_type"] == "train"
    assert logged["run"]["name"] == "rmsprop-seed1" and logged["run"]["project"] == "robustopt"
    assert logged["run"]["id"] == run.meta()["wandb_id"]
    assert logged["config"]["optimizer"]["name"] == "rmsprop" and logged["config"]["seed"] == 1
    history = [h for h in logged["history"] if "test_accuracy" in h]
    assert [h["test_accuracy"] for h in history] == [m["test_accuracy"] for m in run.metrics()]
    assert logged["summary"]["status"] == "completed"
    assert logged["exit_code"] == 0


@pytest.mark.slow
def test_multirun_and_evaluate_entry_point(out_dir):
    res = run_entry("train.py", ["-m", *SYN, "epochs=1", "optimizer=sgd,adam,rmsprop", f"paths.output_dir={out_dir}"])
    assert res.returncode == 0, res.stderr[-2000:]
    sweep = out_dir / "multiruns" / "default"
    runs = find_runs(sweep)
    assert sorted(r.path.name for r in runs) == [
        "dataset-synthetic_epochs-1_optimizer-adam_scheduler-constant",
        "dataset-synthetic_epochs-1_optimizer-rmsprop_scheduler-constant",
        "dataset-synthetic_epochs-1_optimizer-sgd_scheduler-constant",
    ]
    ev = run_entry(
        "evaluate.py",
        [f"run_dir={sweep}", "evaluations=[clean]", "logger=none", "progress=false", f"paths.output_dir={out_dir}"],
    )
    assert ev.returncode == 0, ev.stderr[-2000:]
    rows = load_runs(sweep)
    assert len(rows) == 3
    for row in rows:
        assert row["status"] == "completed"
        assert row["summary.eval.clean.accuracy"] == pytest.approx(row["summary.test_accuracy"])
    assert len({row["meta.init.sha256"] for row in rows}) == 1


@pytest.mark.slow
def test_evaluate_uses_each_runs_own_options_unless_overridden(out_dir):
    """A run trained with eval.gaussian_noise.variances=[0.02] is evaluated with them; the command line still wins."""
    res = run_entry(
        "train.py", [*SYN, "epochs=1", "eval.gaussian_noise.variances=[0.02]", f"paths.output_dir={out_dir}"]
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (run,) = find_runs(out_dir / "runs")
    common = ["evaluations=[gaussian_noise]", "logger=none", "progress=false", f"paths.output_dir={out_dir}"]
    assert run_entry("evaluate.py", [f"run_dir={run.path}", *common]).returncode == 0
    assert run.summary()["eval"]["gaussian_noise"]["variances"] == [0.02]
    assert (
        run_entry(
            "evaluate.py", [f"run_dir={run.path}", "eval.gaussian_noise.variances=[0.05,0.1]", *common]
        ).returncode
        == 0
    )
    assert run.summary()["eval"]["gaussian_noise"]["variances"] == [0.05, 0.1]


def test_evaluate_rejects_unknown_evaluation_and_missing_run(tmp_path):
    from robustopt.errors import ConfigError
    from robustopt.evaluation.pipeline import evaluate_runs

    with pytest.raises(ConfigError, match="unknown evaluation 'nope'.*clean"):
        evaluate_runs(tmp_path, ["nope"], {})
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_runs(tmp_path / "missing", ["clean"], {})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no run directories"):
        evaluate_runs(tmp_path / "empty", ["clean"], {})


@pytest.mark.slow
def test_training_then_evaluation_marks_the_run_completed_only_when_evaluated(tmp_path, monkeypatch):
    """train_run trains only; the entry point's train_and_evaluate evaluates the trained weights after it and only
    then marks the run completed, so a run whose evaluation failed is neither skipped nor retrained next time."""
    import robustopt.cli.train as cli_train
    from robustopt.train.pipeline import train_run

    cfg = _cfg(tmp_path, "epochs=1", "evaluations=[clean]")
    train_run(cfg, tmp_path / "plain")
    assert RunDir(tmp_path / "plain").status == "completed" and "eval" not in RunDir(tmp_path / "plain").summary()
    train_run(cfg, tmp_path / "open", mark_finished=False)
    assert RunDir(tmp_path / "open").status == "running"

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(cli_train, "evaluate_model", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        cli_train.train_and_evaluate(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    assert run.status == "failed" and run.meta()["error"].startswith("evaluation: RuntimeError")
    trained = _final_weights(tmp_path / "run")
    monkeypatch.undo()
    cli_train.train_and_evaluate(cfg, tmp_path / "run")
    assert run.status == "completed" and "clean" in run.summary()["eval"]
    assert all(torch.equal(trained[k], v) for k, v in _final_weights(tmp_path / "run").items())  # not retrained
    assert len(run.metrics()) == 1


@pytest.mark.slow
def test_metrics_jsonl_has_one_line_per_epoch(tmp_path):
    from robustopt.train.pipeline import train_run

    train_run(_cfg(tmp_path, "epochs=2"), tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


@pytest.mark.slow
def test_wandb_logger_logs_tables_and_bare_matplotlib_figures(tmp_path):
    """Evaluations hand the tracker bare matplotlib Figures (no pyplot): they must reach W&B as images."""
    import wandb
    from matplotlib.figure import Figure

    from robustopt.tracking import WandbLogger

    logger = WandbLogger(project="robustopt-test", name="figure", dir=tmp_path, mode="offline")
    try:
        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        logger.log_table("tbl", ["a", "b"], [[1, 2.0]])
        logger.log_figure("fig", fig)
        assert not logger._broken
        logger.finish()
    finally:
        wandb.teardown()  # stop this process's W&B service (and unset WANDB_SERVICE) for the tests after this one
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    keys = {k.split("/")[0] for row in read_offline_run(path)["history"] for k in row}
    assert {"tbl", "fig"} <= keys


@pytest.mark.slow
def test_data_filter_is_applied_to_every_training_batch(tmp_path):
    """data_filter puts the frequency filter in the batch server: the batches equal the filter applied to the
    unfiltered batches, and training on them ends with different weights."""
    from robustopt.frequency import remove_high_frequency
    from robustopt.train.pipeline import build_training, train_run

    plain = build_training(_cfg(tmp_path), torch.device("cpu")).batches
    filtered = build_training(
        _cfg(tmp_path, "data_filter.name=high_frequency", "data_filter.keep_fraction=0.2"), torch.device("cpu")
    ).batches
    for (xa, ya), (xb, yb) in zip(plain.epoch(0), filtered.epoch(0)):
        assert torch.equal(ya, yb)
        assert torch.allclose(xb, remove_high_frequency(xa, 0.2), atol=1e-6)
        assert not torch.allclose(xa, xb, atol=1e-3)
    train_run(_cfg(tmp_path, "epochs=1"), tmp_path / "plain")
    train_run(
        _cfg(tmp_path, "epochs=1", "data_filter.name=low_energy", "data_filter.keep_fraction=0.1"),
        tmp_path / "lowenergy",
    )
    a, b = _final_weights(tmp_path / "plain"), _final_weights(tmp_path / "lowenergy")
    assert not torch.equal(a["net.conv1.weight"], b["net.conv1.weight"])


@pytest.mark.slow
def test_snapshots_keep_the_weights_of_the_chosen_epochs(tmp_path):
    """snapshot_epochs keeps each chosen epoch's weights; they equal a run stopped at that epoch."""
    from robustopt.runs import snapshot_path
    from robustopt.train.pipeline import train_run

    train_run(_cfg(tmp_path, "snapshot_epochs=[1,3]"), tmp_path / "run")
    ckpt_dir = RunDir(tmp_path / "run").checkpoint_dir
    assert sorted(p.name for p in ckpt_dir.glob("epoch-*.pt")) == ["epoch-0001.pt", "epoch-0003.pt"]
    train_run(_cfg(tmp_path, "epochs=1"), tmp_path / "short")
    first = torch.load(snapshot_path(ckpt_dir, 1), weights_only=True)
    assert first["epoch"] == 1
    short = _final_weights(tmp_path / "short")
    assert all(torch.equal(first["model"][k], short[k]) for k in short)
    assert all(
        torch.equal(torch.load(snapshot_path(ckpt_dir, 3), weights_only=True)["model"][k], v)
        for k, v in _final_weights(tmp_path / "run").items()
    )
    train_run(_cfg(tmp_path, "snapshot_epochs=all"), tmp_path / "all")
    assert len(list(RunDir(tmp_path / "all").checkpoint_dir.glob("epoch-*.pt"))) == 3


def test_where_the_data_live_is_not_part_of_a_runs_identity(tmp_path):
    from robustopt.train.pipeline import train_run

    train_run(_cfg(tmp_path, "epochs=1"), tmp_path / "run")
    again = _cfg(tmp_path, "epochs=1", "snapshot_epochs=all", "channels_last=true")
    again["dataset"]["root"] = str(tmp_path / "elsewhere")
    train_run(again, tmp_path / "run")  # nothing that changes results differs: accepted (and already complete)


@pytest.mark.slow
def test_matched_accuracy_protocol_evaluates_each_run_where_it_reaches_the_target(tmp_path):
    from robustopt.evaluation.matched import matched_epochs
    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.train.pipeline import train_run

    for opt, lr in (("sgd", 0.01), ("adam", 0.01)):
        train_run(
            _cfg(
                tmp_path,
                f"optimizer={opt}",
                f"optimizer.lr={lr}",
                "epochs=4",
                "snapshot_epochs=all",
                "dataset.validation_size=64",
            ),
            tmp_path / opt,
        )
    runs = [RunDir(tmp_path / o) for o in ("sgd", "adam")]
    curves = {r.path.name: [m["test_accuracy"] for m in r.metrics()] for r in runs}
    # the epoch is chosen on the validation split, never on test accuracy
    val = {r.path.name: [m["validation_accuracy"] for m in r.metrics()] for r in runs}
    target = min(c[-1] for c in val.values())
    expected = {name: next(i + 1 for i, a in enumerate(c) if a >= target) for name, c in val.items()}
    plan = matched_epochs(runs)
    assert {Path(p).name: m.epoch for p, m in plan.items()} == expected
    assert all(m.target_accuracy == target for m in plan.values())

    evaluate_runs(tmp_path, ["clean"], {}, progress=False, protocol="matched", shard="1/2")  # the second run only
    assert [
        ("clean" in (r.summary().get("matched") or {}).get("eval", {})) for r in sorted(runs, key=lambda r: r.path)
    ] == [False, True]
    evaluate_runs(tmp_path, ["clean"], {}, progress=False, protocol="matched", shard="0/2")
    for run in runs:
        matched = run.summary()["matched"]
        assert matched["epoch"] == expected[run.path.name]
        # the clean accuracy of the evaluated weights is the accuracy training logged at that epoch
        logged = curves[run.path.name][matched["epoch"] - 1]
        assert matched["eval"]["clean"]["accuracy"] == pytest.approx(logged, abs=1e-6)
        assert "clean" not in run.summary().get("eval", {})  # the final-epoch results are a separate section
    evaluate_runs(tmp_path, ["clean"], {}, progress=False, protocol="matched", prune_snapshots=True)
    for run in runs:
        kept = sorted(p.name for p in run.checkpoint_dir.glob("*.pt"))
        assert kept == sorted({f"epoch-{expected[run.path.name]:04d}.pt", "last.pt"}), kept


@pytest.mark.slow
def test_matched_protocol_needs_kept_weights(tmp_path):
    from robustopt.errors import CheckpointError, ConfigError
    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.train.pipeline import train_run

    train_run(_cfg(tmp_path, "epochs=3", "dataset.validation_size=64"), tmp_path / "sgd")
    # a fixed target every run reaches at epoch 1: its weights were not kept
    with pytest.raises(CheckpointError, match="snapshot_epochs"):
        evaluate_runs(tmp_path, ["clean"], {}, progress=False, protocol="matched", matched_target=1e-6)
    with pytest.raises(ConfigError, match="matched target"):
        evaluate_runs(tmp_path, ["clean"], {}, progress=False, protocol="matched", matched_target=1.5)


def test_run_rng_seeds_the_run_and_restores_the_callers_state():
    from robustopt.train.pipeline import run_rng

    torch.manual_seed(7)
    before = torch.get_rng_state()
    with run_rng(3, torch.device("cpu")):
        inside = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), before), "the caller's global RNG must be left as it was"
    assert torch.equal(inside, torch.rand(4, generator=torch.Generator().manual_seed(3)))  # the run's seed


@pytest.mark.slow
def test_dropout_training_depends_on_the_run_seed_only(tmp_path):
    """A model with dropout (the global RNG during training) trains the same whatever the caller's RNG state, and
    train_run leaves that state as it was."""
    from torch import nn

    from robustopt.models import MODELS, register_model
    from robustopt.train.pipeline import train_run

    @register_model("mlp_dropout_test")
    def mlp_dropout_test(in_channels, num_classes, image_size):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size**2, 32),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(32, num_classes),
        )

    try:
        weights = []
        for caller_seed, seed in ((1, 0), (2, 0), (1, 5)):
            torch.manual_seed(caller_seed)
            before = torch.get_rng_state()
            train_run(
                _cfg(
                    tmp_path,
                    "epochs=1",
                    "model=mlp",
                    "model.name=mlp_dropout_test",
                    f"seed={seed}",
                    "init_seed=0",
                    "data_seed=0",
                ),
                tmp_path / f"run-{caller_seed}-{seed}",
            )
            assert torch.equal(torch.get_rng_state(), before)
            weights.append(_final_weights(tmp_path / f"run-{caller_seed}-{seed}"))
    finally:
        MODELS.unregister("mlp_dropout_test")
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # the caller's state does not matter
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])  # the run's seed (its dropout) does


@pytest.mark.slow
def test_matched_protocol_in_progress_evaluates_a_run_stopped_before_its_end(tmp_path, monkeypatch):
    """in_progress=true (fixed target only) evaluates an interrupted run at its first epoch reaching the target, with
    the weights a finished run has at that epoch, and records that the run was not finished."""
    import functools

    from robustopt.errors import ConfigError
    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.train import pipeline

    val = "dataset.validation_size=64"
    pipeline.train_run(_cfg(tmp_path, "epochs=4", "snapshot_epochs=all", val), tmp_path / "done" / "sgd")
    steps_per_epoch = len(list(pipeline.build_training(_cfg(tmp_path), torch.device("cpu")).batches.epoch(0)))

    class Stop(Exception):
        pass

    def stop(step):
        if step >= 2 * steps_per_epoch + 1:  # two epochs done, a third started
            raise Stop

    monkeypatch.setattr(pipeline, "fit", functools.partial(pipeline.fit, on_step=stop))
    with pytest.raises(Stop):
        pipeline.train_run(_cfg(tmp_path, "epochs=4", "snapshot_epochs=all", val), tmp_path / "partial" / "sgd")
    partial = RunDir(tmp_path / "partial" / "sgd")
    assert partial.status != "completed" and len(partial.metrics()) == 2
    target = partial.metrics()[1]["validation_accuracy"]

    with pytest.raises(ConfigError, match="in_progress"):
        evaluate_runs(tmp_path / "partial", ["clean"], {}, progress=False, protocol="matched", in_progress=True)
    out = evaluate_runs(tmp_path / "partial", ["clean"], {}, progress=False, protocol="matched")
    assert "skipped" in out[str(partial.path)]  # without in_progress an unfinished run is skipped
    evaluate_runs(
        tmp_path / "partial", ["clean"], {}, progress=False, protocol="matched", matched_target=target, in_progress=True
    )
    matched = partial.summary()["matched"]
    done = [m["test_accuracy"] for m in RunDir(tmp_path / "done" / "sgd").metrics()]
    done_val = [m["validation_accuracy"] for m in RunDir(tmp_path / "done" / "sgd").metrics()]
    first = next(i + 1 for i, a in enumerate(done_val) if a >= target)
    assert matched["epoch"] == first and matched["run_status"] == partial.status
    assert matched["epochs_done"] == 2 and matched["epochs"] == 4
    assert matched["eval"]["clean"]["accuracy"] == pytest.approx(
        done[first - 1], abs=1e-6
    )  # same weights as the finished run's
