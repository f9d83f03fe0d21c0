"""The README's commands run exactly as written (issue 15).

Every ```bash block that follows a ``<!-- readme-test: NAME -->`` line in README.md is read from the README and
run, command by command, from a fresh folder that looks like the clone (``experiments/``, ``scripts/``,
``paper_figures/`` linked in; ``outputs/`` and ``data/`` start empty).  ``python`` is this interpreter (the
environment's, as after ``source .venv/bin/activate``).  Commands that train for long get a tiny override
*appended* (the synthetic data set, one epoch, no W&B); the README's text itself is never changed.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from robustopt.rundir import RunDir, find_runs
from tests.conftest import REPO, clean_env

pytestmark = pytest.mark.slow

TINY_TRAIN = ["dataset=synthetic", "epochs=1", "logger=none", "progress=false", "evaluations=[]"]
TINY = {
    "experiments/train.py": TINY_TRAIN,
    "experiments/irrelevant_freq.py": TINY_TRAIN,
    "experiments/evaluate.py": [
        "logger=none",
        "progress=false",
        "eval.robust_accuracy.eps.linf=[0.03]",
        "eval.robust_accuracy.eps.l2=[0.5]",
        "eval.robust_accuracy.large_eps_steps=1",
    ],
    "experiments/linear_theory.py": [
        "n_steps=2001",
        "gradients=[population]",
        "surface.n_steps=201",
        "logger=none",
        "progress=false",
        "hydra.run.dir=outputs/runs/linear_theory/default",
    ],
}


def readme_blocks() -> dict[str, list[str]]:
    """``{name: [command, ...]}`` of the README's marked bash blocks (continuation lines joined, comments cut)."""
    text = (REPO / "README.md").read_text()
    blocks = {}
    for name, body in re.findall(r"<!-- readme-test: (\S+) -->\n```bash\n(.*?)```", text, re.S):
        commands = []
        for line in body.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                commands.append(line)
        blocks[name] = commands
    return blocks


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clone")
    for name in ("experiments", "scripts", "paper_figures"):
        (root / name).symlink_to(REPO / name)
    (root / "data").mkdir()
    return root


def run(clone: Path, command: str, *extra: str) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    assert argv[0] == "python", command
    script = argv[1] if len(argv) > 1 else ""
    tiny = [] if any(a.startswith("summarize=") for a in argv) else list(TINY.get(script, []))
    if script == "experiments/train.py" and any(a.startswith("experiment=paper_") for a in argv):
        tiny.append("model=c2")  # the paper presets' ResNet is minutes per job on a CPU; c2 shows the same wiring
    return subprocess.run(
        [sys.executable, *argv[1:], *tiny, *extra],
        cwd=clone,
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1"),
        timeout=1800,
    )


def test_the_readme_marks_its_command_blocks():
    blocks = readme_blocks()
    assert set(blocks) == {"train", "evaluate", "frequencies"}
    assert all(c.startswith("python ") for cs in blocks.values() for c in cs)
    assert any("run_dir=outputs/multiruns/reproduce_quick" in c for c in blocks["evaluate"])


def test_training_commands(clone):
    for command in readme_blocks()["train"]:
        res = run(clone, command)
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
    runs = find_runs(clone / "outputs")
    assert len(runs) >= 1 + 6 + 9 + 3 and all(r.status == "completed" for r in runs)


def test_evaluating_commands(clone):
    # what `make demo` leaves behind (outputs/multiruns/reproduce_quick), made small: not a README command
    setup = subprocess.run(
        [
            sys.executable,
            "experiments/train.py",
            "-m",
            "experiment_name=reproduce_quick",
            "optimizer=sgd,adam",
            *TINY_TRAIN,
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPATH=str(REPO)),
        timeout=900,
    )
    assert setup.returncode == 0, setup.stderr[-3000:]
    for command in readme_blocks()["evaluate"]:
        res = run(clone, command)
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
    for r in find_runs(clone / "outputs/multiruns/reproduce_quick"):
        attacks = RunDir(r.path).summary()["eval"]["robust_accuracy"]["attacks"]
        # the L2 PGD evaluation came second and did not drop the four curves of the first
        assert {"fgsm-linf", "pgd-linf", "fgsm-l2", "pgd-l2"} <= set(attacks)


def test_frequency_theory_and_report_commands(clone):
    if not (clone / "outputs/multiruns/reproduce_quick").exists():
        pytest.skip("needs test_evaluating_commands first")
    for command in readme_blocks()["frequencies"]:
        res = run(clone, command)
        if "paper_figures/report.py" in command:
            # the sweep has no band-noise, heat-map or Lipschitz results: the report refuses in one line per piece
            assert res.returncode in (0, 2) and "Traceback" not in res.stderr, f"{command}\n{res.stderr[-3000:]}"
            continue
        assert res.returncode == 0, f"{command}\n{res.stderr[-3000:]}"
    assert (clone / "outputs/multiruns/irrelevant_freq/irrelevant_freq.json").exists()
