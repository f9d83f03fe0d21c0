"""What a new user meets (issue 21, second part): --help and --list of the entry points, SIGTERM, the README's first
training command, report.py --allow-partial.  Each test fails on the behaviour before the issue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, clean_env

BIN = Path(sys.executable).parent


def console(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """A console script (robustopt-train ...) as a user runs it, from ``cwd``, importing this checkout."""
    return subprocess.run(
        [str(BIN / script), *args],
        cwd=cwd,
        env=clean_env(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )


# -- --help shows what a user chooses and how to list what is registered ------------------------------------------


def test_help_lists_the_users_choices_not_hydras_internals(monkeypatch):
    from robustopt.cli.app import CONF_DIR
    from robustopt.cli.usage import help_text

    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/robustopt-train", "--help"])
    text = help_text(CONF_DIR, "train")
    assert text.startswith("usage: robustopt-train ")
    assert "_schema" not in text and "_defaults" not in text and "theory" not in text and "powered by Hydra" not in text
    choices = {
        line.split()[0]: line.split(None, 1)[1] for line in text.split("Choices")[1].split("\n\n")[0].splitlines()[1:]
    }
    assert {"dataset", "model", "optimizer", "scheduler", "experiment"} <= set(choices)
    assert "adam, adamax, adamw" in choices["optimizer"] and "synthetic" in choices["dataset"]
    for kind in ("models", "datasets", "optimizers", "attacks", "evaluations"):
        assert f"robustopt-train --list {kind}" in text
    assert "epochs" in text and "plugins" in text  # the options, from the config's own comments
    monkeypatch.setattr(sys, "argv", ["experiments/evaluate.py", "--help"])
    text = help_text(CONF_DIR, "evaluate")
    assert text.startswith("usage: python experiments/evaluate.py ") and "run_dir" in text and "optimizer " not in text


@pytest.mark.slow
def test_help_and_list_from_the_console_scripts(tmp_path):
    from robustopt.optim import OPTIMIZERS

    res = console("robustopt-train", "--help", cwd=tmp_path)
    assert res.returncode == 0 and "adadelta_schema" not in res.stdout and "--list optimizers" in res.stdout, res.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written
    res = console("robustopt-train", "--list", "optimizers", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    head, *names = res.stdout.strip().splitlines()
    assert (
        head.startswith("optimizers (select with optimizer=<name>") and [n.strip() for n in names] == OPTIMIZERS.names()
    )
    (tmp_path / "my_attacks.py").write_text(
        "from robustopt.attacks import register_attack\n\n@register_attack('noop_corner')\n"
        "def noop(eps, norm='linf'):\n    return lambda model, x, y: x\n"
    )
    res = console("robustopt-evaluate", "--list", "attacks", "plugins=[my_attacks.py]", cwd=tmp_path)
    assert res.returncode == 0 and "  noop_corner" in res.stdout.splitlines() and "  pgd" in res.stdout.splitlines(), (
        res.stderr
    )
    res = console("robustopt-train", "--list", "optimisers", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.strip() == (
        "error: unknown kind 'optimisers'; --list one of: models, datasets, optimizers, schedulers, attacks, "
        "evaluations"
    )


# -- SIGTERM as Ctrl-C: one line, status interrupted, the same command resumes ---------------------------------------


@pytest.mark.slow
def test_sigterm_is_one_line_status_interrupted_and_the_same_command_resumes(tmp_path):
    from robustopt.cli.app import run_dirname
    from robustopt.rundir import RunDir
    from tests.conftest import run_entry

    out = tmp_path / "out"
    args = [
        "dataset=synthetic",
        "logger=none",
        "progress=false",
        "scheduler=constant",
        "epochs=2",
        f"paths.output_dir={out}",
    ]
    res = subprocess.run(
        [sys.executable, str(REPO / "tests" / "kill_at_step.py"), "12", *args],
        cwd=REPO,
        env=clean_env(PYTHONUNBUFFERED="1", KILL_SIGNAL="SIGTERM"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 143 and len(lines) == 1, (res.returncode, res.stderr)
    assert (
        lines[0].startswith("interrupted (SIGTERM):")
        and "in epoch 2 of 2" in lines[0]
        and "run the same command again" in lines[0]
    )
    run = RunDir(out / "runs" / "default" / run_dirname([a for a in args if not a.startswith("paths.")]))
    assert run.status == "interrupted" and "error" not in run.meta() and len(run.metrics()) == 1
    assert not (run.path / ".lock").exists()
    res = run_entry("train.py", args)
    assert res.returncode == 0, res.stderr
    assert run.status == "completed" and run.summary()["resumed_from_epoch"] == 1


# -- the README's first training command says what it costs ----------------------------------------------------------


def test_the_readmes_first_training_command_says_what_it_costs():
    """The first ``python experiments/train.py`` line of the README either trains a few epochs or says, on its line,
    how long it runs; the paragraph after the block quotes the shipped fp32 reference runs' epoch times as they are."""
    import json
    import re
    from statistics import median

    text = (REPO / "README.md").read_text()
    first = next(line for line in text.splitlines() if line.startswith("python experiments/train.py"))
    epochs = re.search(r"\bepochs=(\d+)", first)
    assert (epochs and int(epochs.group(1)) <= 5) or re.search(r"#.*\b\d+(\.\d+)?\s*(s|min|h|hours?)\b", first), first
    times = [
        json.loads(line)["epoch_time_s"]
        for path in (REPO / "results/fashion_mnist/fp32_reference").glob("*/metrics.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(times) > 100
    cost = " ".join(text[text.index("**What a run costs.**") :][:1200].split())
    assert f"took {min(times):.0f} s at best and {median(times):.0f} s as the median" in cost, cost
    assert f"about {200 * min(times) / 3600:.1f} hours at best and {200 * median(times) / 3600:.1f} hours" in cost, cost


# -- report.py --allow-partial says why no claim was checked, lists every missing part, promises no empty figures/ --


def _robust_accuracy_only(root: Path) -> Path:
    """A sweep whose runs hold only clean and robust-accuracy results (evaluate.py
    evaluations=[clean,robust_accuracy])."""
    from tests.test_paper_figures import OPTS, SEEDS, _config, _summary, write_run

    for opt in OPTS:
        for s in SEEDS:
            summary = _summary(opt, s)
            summary["eval"] = {k: summary["eval"][k] for k in ("clean", "robust_accuracy")}
            write_run(root / f"optimizer-{opt}_seed-{s}", _config(opt, s), summary)
    return root


def test_report_allow_partial_says_why_no_claim_was_checked_and_lists_every_missing_part(tmp_path, capsys):
    from paper_figures import report

    sweep = _robust_accuracy_only(tmp_path / "sweep")
    out = tmp_path / "report"
    assert report.main(["--sweep", str(sweep), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    parts = [
        "Figure 1: standard vs perturbed accuracy",
        "Band-limited noise",
        "Fourier heat maps",
        "Table 1: Lipschitz bounds",
        "Figure 2: irrelevant frequencies",
        "Linear theory",
    ]
    assert len(err) == 7 and all(any(line.startswith(f"missing: {p}: ") for line in err[:-1]) for p in parts), err
    assert err[-1].startswith("error: 6 part(s) of the report are missing (") and all(p in err[-1] for p in parts), err[
        -1
    ]
    assert not out.exists()

    assert report.main(["--sweep", str(sweep), "--out", str(out), "--allow-partial"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0] == (
        "Verdicts: none; no claim could be checked: the runs hold clean, robust_accuracy (9 completed runs); "
        "each claim needs a part that is missing (6: see Missing results)"
    ), lines
    assert lines[1] == f"figures: none (no part of the report has its results; {out / 'figures'} is not made)"
    assert not (out / "figures").exists() and len(captured.err.strip().splitlines()) == 6
    text = (out / "report.md").read_text()
    assert "no results to check" not in text and "the runs hold clean, robust_accuracy" in text
