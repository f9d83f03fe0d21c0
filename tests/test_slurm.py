"""A real Hydra multirun on a real (single-node) SLURM cluster, with a job requeued mid-training.

The module starts the cluster with ``scripts/slurm/local_cluster.sh start`` (installing slurm-wlm and munge
with apt when needed, as root) and stops it at the end.  It skips only where SLURM cannot be had: not
installed, and not root or no apt-get.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robustopt.rundir import RunDir
from tests.conftest import REPO, clean_env, run_entry
from tests.wandb_offline import read_offline_run

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm" / "local_cluster.sh"
SYN = ["dataset=synthetic", "batch_size=32", "logger=none", "progress=false", "scheduler=constant", "num_threads=1"]
# 32 steps each (>= 0.1 s on one core): after the requeue (at epoch >= 2, then <= 2 s KillWait)
# >= 10 s of training remain
EPOCHS = 150
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


def _why_no_slurm() -> str | None:
    if os.geteuid() != 0:
        return "a local SLURM cluster needs root (slurmd, slurmctld; apt-get install slurm-wlm munge)"
    if all(shutil.which(b, path=SBIN_PATH) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return None
    if not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install slurm-wlm and munge"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Environment variables for a running local cluster (started here, stopped after the module)."""
    pytest.importorskip(
        "hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra: pip install 'robustopt[cluster]'"
    )
    reason = _why_no_slurm()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    env = {
        **clean_env(),
        "PATH": SBIN_PATH,
        "ROBUSTOPT_SLURM_STATE": str(state),
        "ROBUSTOPT_SLURMCTLD_PORT": str(_free_port()),
        "ROBUSTOPT_SLURMD_PORT": str(_free_port()),
        "SLURM_CONF": str(state / "slurm.conf"),
    }
    t0 = time.perf_counter()
    start = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    started_s = time.perf_counter() - t0
    if start.returncode == 3:  # the script's "SLURM cannot be had here"
        pytest.skip(start.stderr.strip().splitlines()[-1])
    assert start.returncode == 0, f"local cluster did not start:\n{start.stdout}\n{start.stderr}"
    status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and " idle " in status.stdout, status.stdout + status.stderr
    try:
        yield {"env": env, "state": state, "start_s": started_s}
    finally:
        t0 = time.perf_counter()
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)
        print(f"\nlocal SLURM cluster: start {started_s:.2f} s, stop {time.perf_counter() - t0:.2f} s")
        assert stop.returncode == 0, stop.stderr
        for name in ("munged", "slurmctld", "slurmd"):
            assert not (state / f"{name}.pid").exists(), f"{name} still has a pid file after stop"


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(
                f"the sweep ended (rc {proc.returncode}) before {what}:\n{log.read_text()[-3000:] if log else ''}"
            )
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{log.read_text()[-3000:] if log else ''}")


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_slurm_sweep_requeued_jobs_resume_and_match_local_runs(cluster, tmp_path):
    """Two jobs, both interrupted mid-training: Adam by ``scontrol requeue`` (SLURM kills and requeues it, as on
    preemption), SGD by the USR2 signal SLURM sends before a time limit (submitit requeues it itself)."""
    env = cluster["env"]
    out = tmp_path / "out"
    sweep = out / "multiruns" / "default"
    log = tmp_path / "sweep.log"
    args = [  # W&B offline, as on compute nodes without internet
        "-m",
        "launcher=slurm",
        *SYN,
        "logger=wandb",
        f"epochs={EPOCHS}",
        "optimizer=sgd,adam",
        f"paths.output_dir={out}",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
    ]
    runs = {
        opt: sweep / f"batch_size-32_dataset-synthetic_epochs-{EPOCHS}_optimizer-{opt}_scheduler-constant"
        for opt in ("sgd", "adam")
    }
    interrupt = {"adam": ["scontrol", "requeue"], "sgd": ["scancel", "--signal=USR2"]}
    job_ids, at_epoch = {}, {}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "experiments" / "train.py"), *args],
            cwd=REPO,
            env={**env, "WANDB_MODE": "offline"},
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        for opt in ("adam", "sgd"):  # interrupt each job while it trains, once it has checkpointed two epochs
            run = RunDir(runs[opt])
            _wait_for(lambda run=run: len(run.metrics()) >= 2, 120, f"the {opt} job's second epoch", proc, log)
            job_ids[opt] = run.meta()["slurm_job_id"]
            assert job_ids[opt] and "_" in job_ids[opt], (
                f"meta.json should name the SLURM array task, got {job_ids[opt]!r}"
            )
            res = subprocess.run([*interrupt[opt], job_ids[opt]], env=env, capture_output=True, text=True, timeout=30)
            assert res.returncode == 0, res.stderr
            at_epoch[opt] = len(run.metrics())
            assert at_epoch[opt] < EPOCHS, "the job finished before it could be interrupted: raise EPOCHS"

        # meanwhile, the same overrides run locally (same paths.output_dir, so the same shared initial weights)
        for opt in ("adam", "sgd"):
            ref = run_entry(
                "train.py",
                [
                    *SYN,
                    f"epochs={EPOCHS}",
                    f"optimizer={opt}",
                    f"paths.output_dir={out}",
                    f"hydra.run.dir={tmp_path / 'local' / opt}",
                ],
                timeout=300,
            )
            assert ref.returncode == 0, ref.stderr[-2000:]

        proc.wait(timeout=150)
    finally:
        if proc.poll() is None:  # never leave the sweep or its jobs behind
            os.killpg(proc.pid, signal.SIGKILL)
            subprocess.run(["scancel", "--full", "--name=train"], env=env, capture_output=True, timeout=30)
    sweep_s = time.perf_counter() - t0
    output = log.read_text()
    assert proc.returncode == 0, output[-3000:]
    print(f"\nSLURM sweep, both jobs interrupted and resumed: {sweep_s:.1f} s (at epochs {at_epoch})")

    for opt, run_dir in runs.items():
        run, local = RunDir(run_dir), RunDir(tmp_path / "local" / opt)
        # every job completed; each started twice and resumed from its checkpoint
        assert run.status == "completed", (opt, run.meta())
        assert run.meta()["starts"] == 2 and run.meta()["slurm_job_id"] == job_ids[opt]
        assert 1 <= run.summary()["resumed_from_epoch"] < EPOCHS and run.summary()["epochs_done"] == EPOCHS
        assert "resuming" in (run_dir / "train.log").read_text()
        # ... and ended exactly where the uninterrupted local run ended (CPU, one thread: bitwise)
        a, b = _weights(run_dir), _weights(local.path)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{opt}: {k} differs between the requeued SLURM job and the local run"
        assert [m["test_loss"] for m in run.metrics()] == [m["test_loss"] for m in local.metrics()]
        assert [m["train_loss"] for m in run.metrics()] == [m["train_loss"] for m in local.metrics()]
        assert run.meta()["init"]["sha256"] == local.meta()["init"]["sha256"]

        # W&B: both starts logged to the same run (its id is kept in meta.json), grouped by the sweep
        files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
        assert len(files) == 2, files
        assert {f.parent.name.rsplit("-", 1)[-1] for f in files} == {run.meta()["wandb_id"]}  # offline-run-TIME-ID
        second = read_offline_run(files[1])  # (the first may be cut off by the requeue's SIGTERM)
        assert second["run"]["id"] == run.meta()["wandb_id"]
        assert (
            second["run"]["group"] == "default"
            and second["run"]["job_type"] == "train"
            and second["run"]["name"] == f"{opt}-seed0"
        )
        assert (
            second["config"]["job"]["overrides"]["optimizer"] == opt
            and second["config"]["job"]["job_id"] == job_ids[opt]
        )
        assert second["exit_code"] == 0
        logged = [h["epoch"] for h in second["history"] if "test_loss" in h]
        assert logged == list(range(run.summary()["resumed_from_epoch"] + 1, EPOCHS + 1))

    job_log = {
        opt: "".join(p.read_text() for p in (sweep / ".submitit" / job_ids[opt]).glob("*_log.*")) for opt in runs
    }
    assert "DUE TO JOB REQUEUE" in job_log["adam"], "SLURM itself must have requeued the adam job"
    assert "Caught signal SIGUSR2" in job_log["sgd"] and f"Requeued job {job_ids['sgd']}" in job_log["sgd"], (
        "submitit must have requeued sgd"
    )

    # the on_multirun_end callback gathered both jobs into one table next to multirun.yaml
    table = json.loads((sweep / "sweep_results.json").read_text())
    assert table["counts"] == {"completed": 2} and table["unfinished"] == []
    by_opt = {j["record"]["config.optimizer.name"]: j for j in table["jobs"]}
    assert by_opt["adam"]["record"]["meta.starts"] == 2
    assert (
        by_opt["adam"]["record"]["summary.test_loss"] == RunDir(tmp_path / "local" / "adam").metrics()[-1]["test_loss"]
    )
    assert (sweep / "sweep_results.csv").read_text().count("\n") == 3  # header + 2 jobs
    assert "Mean ± std over seeds" in output
