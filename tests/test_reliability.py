"""Safe under real use (issue 21): shared folders, two commands at once, Ctrl-C, a busy cluster, unwritable
folders, a changed data set.  Each test fails on the behaviour before the issue."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from robustopt.io import atomic_torch_save, atomic_write_json, atomic_write_text

# -- files follow the umask --------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        written = [
            atomic_write_text(tmp_path / "a.txt", "x"),
            atomic_write_json(tmp_path / "b.json", {"a": 1}),
            atomic_torch_save(tmp_path / "c.pt", {"x": torch.zeros(1)}),
        ]
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE(plain.stat().st_mode), path


# -- a run folder is trained by one command at a time --------------------------------------------------------------

SYN = ["dataset=synthetic", "logger=none", "progress=false", "scheduler=constant"]


def _run_folder(out: Path, args: list[str]) -> Path:
    from robustopt.cli.app import run_dirname

    return out / "runs" / "default" / run_dirname([a for a in args if not a.startswith("paths.")])


def test_run_lock_refuses_a_second_holder_naming_the_first_and_ignores_a_stale_lock(tmp_path):
    from robustopt.errors import CheckpointError
    from robustopt.rundir import RunLock

    with RunLock(tmp_path):
        with pytest.raises(CheckpointError) as err:
            RunLock(tmp_path).acquire()
        assert f"in use by process {os.getpid()}" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / ".lock").exists()
    # a lock file left by a killed process (its pid, no flock held) does not block
    (tmp_path / ".lock").write_text('{"pid": 999999999, "host": "elsewhere"}')
    with RunLock(tmp_path):
        assert str(os.getpid()) in (tmp_path / ".lock").read_text()


@pytest.mark.slow
def test_a_second_train_command_on_a_locked_run_refuses_in_one_line(tmp_path):
    from robustopt.rundir import RunDir, RunLock
    from tests.conftest import run_entry

    out = tmp_path / "out"
    args = [*SYN, "epochs=1", f"paths.output_dir={out}"]
    folder = _run_folder(out, args)
    with RunLock(folder):  # this test process "trains" the run
        res = run_entry("train.py", args)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert f"in use by process {os.getpid()}" in lines[0] and str(folder) in lines[0]
    assert not RunDir(folder).meta_path.exists()  # it did not start (no meta.json, no starts: 2)
    res = run_entry("train.py", args)  # once the lock is released, the command trains
    assert res.returncode == 0, res.stderr
    assert RunDir(folder).meta()["starts"] == 1 and not (folder / ".lock").exists()


# -- Ctrl-C: one line, status interrupted, the same command resumes -------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_is_one_line_status_interrupted_and_the_same_command_resumes(tmp_path):
    import subprocess
    import sys

    from robustopt.rundir import RunDir
    from tests.conftest import REPO, clean_env, run_entry

    out = tmp_path / "out"
    args = [*SYN, "epochs=2", f"paths.output_dir={out}"]
    res = subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_at_step.py"), "12", *args],
        cwd=REPO,
        env=clean_env(PYTHONUNBUFFERED="1", KILL_SIGNAL="SIGINT"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 130 and len(lines) == 1, res.stderr
    assert (
        lines[0].startswith("interrupted:")
        and "in epoch 2 of 2" in lines[0]
        and "run the same command again" in lines[0]
    )
    run = RunDir(_run_folder(out, args))
    assert run.status == "interrupted" and "error" not in run.meta() and len(run.metrics()) == 1
    res = run_entry("train.py", args)
    assert res.returncode == 0, res.stderr
    assert run.status == "completed" and run.summary()["resumed_from_epoch"] == 1


# -- exit statuses: a diverged run is 3, in a single run and in a multirun -------------------------------------------


@pytest.mark.slow
def test_a_diverged_run_exits_3_single_and_multirun(tmp_path):
    from tests.conftest import run_entry

    out = tmp_path / "out"
    res = run_entry("train.py", [*SYN, "epochs=1", "optimizer.lr=1e12", f"paths.output_dir={out}"])
    assert res.returncode == 3 and "[diverged]" in res.stdout, res.stderr
    res = run_entry("train.py", ["-m", *SYN, "epochs=1", "optimizer.lr=1e12,0.01", f"paths.output_dir={out}"])
    assert res.returncode == 3 and "1 completed, 1 diverged" in res.stdout, res.stderr
    res = run_entry("train.py", [*SYN, "epochs=1", f"paths.output_dir={out}"])
    assert res.returncode == 0, res.stderr


# -- evaluate on a folder that holds more than training runs ---------------------------------------------------------


def _trained(folder: Path, out: Path) -> Path:
    from robustopt.train.pipeline import train_run
    from tests.conftest import compose

    train_run(compose("train", [*SYN, "epochs=1", f"paths.output_dir={out}"]), folder)
    return folder


@pytest.fixture(scope="module")
def one_run(tmp_path_factory, one_torch_thread) -> Path:
    tmp = tmp_path_factory.mktemp("trained")
    return _trained(tmp / "run", tmp / "out")


def _mixed_folder(root: Path, one_run: Path) -> dict:
    """A folder as a researcher has one: a sweep of two runs, a linear-theory run, a notes folder, and an unrelated
    run deeper down (three levels), which run_dir=root must never touch."""
    import shutil

    from tests.conftest import REPO

    paths = {"a": root / "sweep" / "run-a", "b": root / "sweep" / "run-b", "deep": root / "x" / "y" / "z" / "other"}
    for path in paths.values():
        shutil.copytree(one_run, path)
    shutil.copytree(REPO / "results" / "fashion_mnist" / "linear_theory", root / "theory")
    (root / "notes").mkdir()
    return paths


def test_evaluate_on_a_mixed_folder_says_what_it_found_skips_the_rest_and_touches_nothing_else(
    tmp_path, one_run, caplog
):
    import logging

    from robustopt.evaluation.pipeline import evaluate_runs

    paths = _mixed_folder(tmp_path, one_run)
    deep_summary = (paths["deep"] / "summary.json").read_bytes()
    with caplog.at_level(logging.INFO, logger="robustopt"):
        out = evaluate_runs(tmp_path, ["clean"], {}, progress=False, num_threads=1)
    assert sorted(out) == sorted(str(paths[k]) for k in "ab")
    text = caplog.text
    assert f"found 2 training runs under {tmp_path}: 2 in {tmp_path / 'sweep'}; 3 other folders skipped" in text
    assert f"skipping {tmp_path / 'theory'}: not a training run (a linear-theory run)" in text
    assert f"skipping {tmp_path / 'notes'}: holds no training run" in text
    assert f"skipping {tmp_path / 'x'}: holds no training run" in text
    assert (paths["deep"] / "summary.json").read_bytes() == deep_summary  # three levels down: not a run of run_dir
    assert "eval" not in json_of(tmp_path / "theory" / "summary.json")


def json_of(path: Path) -> dict:
    import json

    return json.loads(path.read_text()) if path.exists() else {}


def test_a_run_dir_that_is_no_run_nor_sweep_is_refused_naming_the_sweep_folders_below(tmp_path, one_run):
    from robustopt.errors import ConfigError
    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.rundir import scan_run_dir

    _mixed_folder(tmp_path / "a" / "b", one_run)  # results/-like: the runs are three levels down
    with pytest.raises(ConfigError) as err:
        evaluate_runs(tmp_path, ["clean"], {})
    msg = str(err.value)
    assert (
        "\n" not in msg and "no run directories of training runs" in msg and str(tmp_path / "a" / "b" / "sweep") in msg
    )
    with pytest.raises(ConfigError, match="is a run folder but not a training run"):
        scan_run_dir(tmp_path / "a" / "b" / "theory")


def test_evaluate_checks_every_run_before_any_work(tmp_path, one_run):
    """A run whose results cannot be written (immutable folder), or that has no weights, stops the command before
    any run is evaluated, so no sweep is left half rewritten."""
    import subprocess

    from robustopt.errors import CheckpointError, ConfigError
    from robustopt.evaluation.pipeline import evaluate_runs

    paths = _mixed_folder(tmp_path, one_run)
    before = (paths["a"] / "summary.json").read_bytes()
    (paths["b"] / "checkpoints" / "last.pt").unlink()
    with pytest.raises(CheckpointError, match=f"nothing evaluated: {paths['b']} has no weights"):
        evaluate_runs(tmp_path, ["clean"], {})
    assert (paths["a"] / "summary.json").read_bytes() == before
    _trained(paths["b"], tmp_path / "out")  # the same command trains it again
    if subprocess.run(["chattr", "+i", str(paths["b"])], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    try:
        with pytest.raises(ConfigError, match=f"nothing evaluated: cannot write the results into {paths['b']}"):
            evaluate_runs(tmp_path, ["clean"], {})
    finally:
        subprocess.run(["chattr", "-i", str(paths["b"])])
    assert (paths["a"] / "summary.json").read_bytes() == before


def test_evaluate_skips_a_run_that_is_being_trained(tmp_path, one_run):
    import shutil

    from robustopt.evaluation.pipeline import evaluate_runs
    from robustopt.rundir import RunLock

    shutil.copytree(one_run, tmp_path / "sweep" / "run")
    with RunLock(tmp_path / "sweep" / "run"):
        out = evaluate_runs(tmp_path / "sweep", ["clean"], {}, progress=False, num_threads=1)
    assert f"in use by process {os.getpid()}, which is training it" in out[str(tmp_path / "sweep" / "run")]["skipped"]


# -- an output folder that cannot be written: one line, before Hydra makes anything -----------------------------------


def _check(argv, config="train"):
    from robustopt.cli import CONF_DIR
    from robustopt.cli.app import to_plain
    from robustopt.cli.check import check_command_line
    from robustopt.cli.validate import VALIDATORS

    return check_command_line(CONF_DIR, config, argv, validate=VALIDATORS[config], to_plain=to_plain)


def test_an_unwritable_output_folder_is_one_line_naming_it(tmp_path):
    import subprocess

    from robustopt.errors import ConfigError

    for argv in (
        [*SYN, "paths.output_dir=/proc/robustopt"],
        ["-m", *SYN, "seed=0,1", "paths.output_dir=/proc/robustopt"],
    ):
        with pytest.raises(ConfigError) as err:
            _check(argv)
        msg = str(err.value)
        assert (
            "\n" not in msg
            and msg.startswith("cannot write the output folder /proc/robustopt/")
            and "/proc accepts no new files" in msg
        )
    locked = tmp_path / "locked"
    locked.mkdir()
    if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here")
    try:
        with pytest.raises(
            ConfigError, match=f"cannot write the output folder {locked}/runs/.*{locked} accepts no new files"
        ):
            _check([*SYN, f"paths.output_dir={locked}"])
    finally:
        subprocess.run(["chattr", "-i", str(locked)])
    assert list(locked.iterdir()) == []


@pytest.mark.slow
def test_an_error_inside_the_job_before_any_work_leaves_no_folders(tmp_path):
    from tests.conftest import run_entry

    (tmp_path / "data").mkdir()
    out = tmp_path / "new" / "outputs"
    res = run_entry(
        "train.py",
        [
            "dataset=cifar10",
            "epochs=1",
            "logger=none",
            f"paths.data_dir={tmp_path / 'data'}",
            f"paths.output_dir={out}",
        ],
    )
    assert res.returncode == 2 and res.stderr.strip().startswith("error: cifar10 not found"), res.stderr
    assert not (tmp_path / "new").exists()  # not even an empty outputs/runs/default/


# -- launcher=slurm: only with -m, and only when SLURM answers ---------------------------------------------------------


def test_a_launcher_without_multirun_is_refused(tmp_path):
    from robustopt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^launcher=slurm only applies to a multirun: add -m"):
        _check([*SYN, "launcher=slurm", f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"^launcher=joblib only applies to a multirun"):
        _check([*SYN, "launcher=joblib", f"paths.output_dir={tmp_path}"])
    _check([*SYN, "launcher=local", f"paths.output_dir={tmp_path}"])


def test_slurm_that_is_not_reachable_is_one_line_before_any_sweep_folder(tmp_path, monkeypatch):
    from robustopt.errors import ConfigError

    argv = ["-m", *SYN, "launcher=slurm", "seed=0,1", f"paths.output_dir={tmp_path / 'out'}"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(
        ConfigError, match=r"^SLURM is not reachable from this machine \(sbatch is not on PATH\); run the sweep on"
    ):
        _check(argv)
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("sbatch", "sinfo"):
        (fake / name).write_text(
            "#!/bin/sh\necho 'sinfo: fatal: Could not establish a configuration source' >&2\nexit 1\n"
        )
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:/usr/bin:/bin")
    with pytest.raises(ConfigError) as err:
        _check(argv)
    assert str(err.value).startswith(
        "SLURM is not reachable from this machine (sinfo: fatal: Could not establish a configuration source)"
    )
    assert not (tmp_path / "out").exists()
    (fake / "sinfo").write_text("#!/bin/sh\necho debug\n")  # a cluster that answers
    assert _check(argv) == 2


# -- the data cache is tied to the raw files it was built from ---------------------------------------------------------


def test_the_data_cache_is_rebuilt_when_a_raw_file_changes_and_a_truncated_file_is_refused(tmp_path, caplog):
    import logging

    import numpy as np

    from robustopt.data.cache import cache_path, load_split_uint8
    from robustopt.errors import DataError
    from tests.formats import write_idx, write_mnist_like

    raw = tmp_path / "FashionMNIST" / "raw"
    data = write_mnist_like(raw)
    x, _ = load_split_uint8("fashion_mnist", tmp_path, "test")
    assert torch.equal(x[:, 0], torch.from_numpy(data["test"][0]))
    assert "raw_files" in torch.load(cache_path(tmp_path, "fashion_mnist", "test"), weights_only=True)
    # a raw file replaced by another: the cache is rebuilt from it, with a warning naming the file
    new = np.full((7, 28, 28), 3, dtype=np.uint8)
    write_idx(raw / "t10k-images-idx3-ubyte", new)
    with caplog.at_level(logging.WARNING):
        x, _ = load_split_uint8("fashion_mnist", tmp_path, "test")
    assert torch.equal(x[:, 0], torch.from_numpy(new))
    assert (
        "the raw files of fashion_mnist changed since its cache" in caplog.text
        and "t10k-images-idx3-ubyte" in caplog.text
    )
    # a truncated raw file: the old cache is not used, and the reader refuses the file in one sentence
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_split_uint8("fashion_mnist", tmp_path, "test")


# -- log lines --------------------------------------------------------------------------------------------------------


def test_epoch_log_lines_are_rounded_and_read_as_text():
    from robustopt.train.pipeline import format_epoch

    line = format_epoch(
        {
            "epoch": 3,
            "lr": 0.01,
            "train_loss": 1.38795123,
            "train_accuracy": 0.25,
            "images_per_s": 5042.4606,
            "epoch_time_s": 0.20308,
            "test_loss": 1.38276,
            "test_accuracy": 0.25,
        },
        10,
    )
    assert line == (
        "epoch 3/10: train loss 1.3880, train accuracy 0.2500, test loss 1.3828, test accuracy 0.2500, lr 0.01, "
        "5042 img/s, 0.20 s"
    )


def test_evaluation_log_lines_name_the_run(tmp_path, one_run, caplog):
    import logging
    import shutil

    from robustopt.evaluation.pipeline import evaluate_runs

    shutil.copytree(one_run, tmp_path / "my-run")
    with caplog.at_level(logging.INFO, logger="robustopt"):
        evaluate_runs(tmp_path / "my-run", ["clean"], {}, progress=False, num_threads=1)
    line = next(r.getMessage() for r in caplog.records if ": clean: " in r.getMessage())
    assert line.startswith("my-run: clean: accuracy ") and "{" not in line


# -- the notebook front door: no files made where there are no data, the CLI's thread rule ----------------------------


def test_the_front_door_writes_nothing_where_there_are_no_data_and_says_the_fix(tmp_path, monkeypatch):
    import robustopt
    from robustopt.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ROBUSTOPT_DATA_DIR", raising=False)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    with pytest.raises(ConfigError) as err:
        robustopt.evaluate(model, "fashion_mnist", ["clean"], n_examples=10)
    assert "the data root data does not exist; point root= at the folder holding the data set 'fashion_mnist'" in str(
        err.value
    )
    assert list(tmp_path.iterdir()) == []  # no ./data (60 MB of unpacked files and a cache) behind the user's back


def test_the_front_door_uses_the_clis_thread_rule(monkeypatch):
    import robustopt
    from robustopt.devices import resolve_num_threads
    from robustopt.evaluation.registry import EVALUATIONS, register_evaluation

    seen = []

    def threads(model, data, cfg, ctx):
        seen.append(torch.get_num_threads())
        return {"threads": seen[-1]}

    register_evaluation("threads_seen", threads, overwrite=True)
    before = torch.get_num_threads()
    try:
        x, y = torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
        robustopt.evaluate(model, (x, y), ["threads_seen"], device="cpu")
        robustopt.evaluate(model, (x, y), ["threads_seen"], device="cpu", num_threads=1)
    finally:
        EVALUATIONS.unregister("threads_seen")
    assert seen == [resolve_num_threads("auto"), 1] and torch.get_num_threads() == before


# -- a finished run is skipped without loading its checkpoint (issue 22) ----------------------------------------------


def test_the_job_that_skips_a_finished_run_loads_no_checkpoint(tmp_path, monkeypatch):
    """The entry point decides once whether the run is finished and passes the answer down; deciding it reads the
    record of the final checkpoint (meta.json's final_checkpoint), not the checkpoint (before issue 22: three full
    torch.loads, four with evaluations).  A checkpoint of another size, or damaged in place, is still found unusable,
    without a load."""
    import robustopt.cli.app as app
    import robustopt.cli.train as cli_train
    from robustopt.rundir import RunDir
    from robustopt.train.pipeline import checkpoint_problem, run_is_finished
    from tests.conftest import compose

    monkeypatch.setattr(app, "RUN_STATUSES", [])  # this process's exit status, as the job records it
    cfg = compose("train", [*SYN, "epochs=1", "evaluations=[clean]", f"paths.output_dir={tmp_path / 'out'}"])
    folder = tmp_path / "run"
    cli_train.train_and_evaluate(cfg, folder)
    run = RunDir(folder)
    assert run.status == "completed" and run.meta()["final_checkpoint"]["epoch"] == 1
    loads = []
    real_load = torch.load

    def counting_load(*args, **kwargs):
        loads.append(args[0] if args else kwargs.get("f"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    cli_train._train_locked(cfg, folder, "sgd-seed0")  # what `experiments/train.py` runs for this job
    assert loads == []
    assert cli_train.train_and_evaluate(cfg, folder).status == "completed" and loads == []  # the library's door too
    good = run.checkpoint_path.read_bytes()
    run.checkpoint_path.write_bytes(good[:-1])
    assert checkpoint_problem(run) == "unreadable" and not run_is_finished(folder, cfg) and loads == []
    # damaged in place (same size, one byte changed): the recorded digest no longer matches, still without a load
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0xFF
    run.checkpoint_path.write_bytes(bytes(damaged))
    assert checkpoint_problem(run) == "unreadable" and not run_is_finished(folder, cfg) and loads == []
    run.checkpoint_path.write_bytes(good)
    assert checkpoint_problem(run) is None and run_is_finished(folder, cfg) and loads == []
