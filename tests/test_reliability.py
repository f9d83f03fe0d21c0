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
    res = subprocess.run([sys.executable, str(REPO / "tests" / "kill_at_step.py"), "12", *args], cwd=REPO,
                         env=clean_env(PYTHONUNBUFFERED="1", KILL_SIGNAL="SIGINT"), capture_output=True, text=True, timeout=600)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 130 and len(lines) == 1, res.stderr
    assert lines[0].startswith("interrupted:") and "in epoch 2 of 2" in lines[0] and "run the same command again" in lines[0]
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
