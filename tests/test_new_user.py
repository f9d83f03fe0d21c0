"""What a new user trips over (issue 15): commands that must work as written, results that must not be lost,
and bad input that must fail at once, in one line, before anything is created."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import tomllib
import torch
from torch import nn

from robustopt.cli import CONF_DIR
from robustopt.cli.check import check_command_line, group_choices
from robustopt.cli.validate import check_evaluate_config, check_train_config
from robustopt.errors import CheckpointError, ConfigError, DataError
from robustopt.evaluation.merge import merge_result
from robustopt.rundir import RunDir
from tests.conftest import REPO, clean_env, compose, run_entry

SYN = ["dataset=synthetic", "epochs=1", "logger=none", "progress=false", "scheduler=constant"]


def check(argv, config="train", validate=check_train_config):
    from robustopt.cli.app import to_plain

    return check_command_line(CONF_DIR, config, argv, validate=validate, to_plain=to_plain)


# -- bad input: one line naming the key, the value and the valid choices, before any run folder -----------------


def test_unknown_choice_lists_only_real_choices():
    with pytest.raises(ConfigError) as err:
        check(["optimizer=sgdd"])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("optimizer=sgdd")
    listed = msg.split("valid choices: ")[1].split(" (")[0].split(", ")
    assert listed == sorted(p.stem for p in (Path(CONF_DIR) / "optimizer").glob("*.yaml"))  # every config file, sorted
    assert "_schema" not in msg
    assert "sgd_schema" not in group_choices(CONF_DIR, "optimizer") and "sgd" in group_choices(CONF_DIR, "optimizer")


def test_schema_nodes_are_not_choices():
    for arg in ("optimizer=sgd_schema", "model=model_schema", "scheduler=multistep_schema"):
        with pytest.raises(ConfigError, match=r"is a schema, not a choice of group") as err:
            check([arg, *SYN])
        assert "\n" not in str(err.value) and "_schema," not in str(err.value)


def test_wrong_type_and_unknown_key_are_one_line_naming_key_and_value():
    with pytest.raises(ConfigError) as err:
        check(["optimizer.lr=abc"])
    msg = str(err.value)
    assert "\n" not in msg and "optimizer.lr" in msg and "'abc'" in msg and "Float" in msg
    with pytest.raises(ConfigError) as err:
        check(["optimizer.lrr=0.1"])
    msg = str(err.value)
    assert "\n" not in msg and "'lrr'" in msg and "lr, momentum, name, nesterov, weight_decay" in msg


def test_values_the_library_rejects_fail_at_the_check():
    with pytest.raises(ConfigError, match="lr must be > 0, got -1"):
        check([*SYN, "optimizer.lr=-1"])
    with pytest.raises(ConfigError, match="epochs must be >= 1, got 0"):
        check([*SYN, "epochs=0"])
    # a multirun's every job is checked: the bad learning rate is the third job's
    with pytest.raises(ConfigError, match="lr must be > 0"):
        check(["-m", *SYN, "optimizer.lr=0.1,0.2,-3"])
    assert check(["-m", *SYN, "optimizer=sgd,adam", "seed=0,1"]) == 4


def test_evaluations_are_checked_before_training(tmp_path):
    with pytest.raises(ConfigError, match="unknown evaluation 'nosuch'"):
        check([*SYN, "evaluations=[nosuch]"])
    with pytest.raises(ConfigError, match="no option"):
        check([*SYN, "evaluations=[clean]", "+eval.clean.n_sample=3"])
    with pytest.raises(ConfigError, match="nosuch"):
        check([*SYN, "evaluations=[robust_accuracy]", "eval.robust_accuracy.attacks=[{name: nosuch}]"])
    # the library path too: train_and_evaluate refuses before training (no run folder appears)
    from robustopt.cli.train import train_and_evaluate

    cfg = compose("train", [*SYN, f"paths.output_dir={tmp_path}", "evaluations=[nosuch]"])
    with pytest.raises(ConfigError, match="unknown evaluation 'nosuch'"):
        train_and_evaluate(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_evaluation_option_values_are_checked_before_training(tmp_path):
    """Each evaluation's registered check runs at start-up (issue 22): a bad value fails in one line naming the key
    and the valid values, before any run folder is made -- band_noise.std_of used to fail only after training."""
    with pytest.raises(ConfigError) as err:
        check([*SYN, "evaluations=[band_noise]", "eval.band_noise.std_of=pixel"])
    msg = str(err.value)
    assert "\n" not in msg and "eval.band_noise.std_of" in msg and "'white' or 'band'" in msg and "pixel" in msg
    with pytest.raises(ConfigError, match=r"eval\.band_noise\.n_draws must be at least 1"):
        check([*SYN, "evaluations=[band_noise]", "eval.band_noise.n_draws=0"])
    with pytest.raises(ConfigError, match=r"eval\.gaussian_noise\.variances must be non-negative"):
        check([*SYN, "evaluations=[gaussian_noise]", "eval.gaussian_noise.variances=[-0.1]"])
    with pytest.raises(ConfigError, match=r"eval\.lipschitz\.method must be one of lanczos, power, dense"):
        check([*SYN, "evaluations=[lipschitz]", "eval.lipschitz.method=svd"])
    check([*SYN, "evaluations=[band_noise]", "eval.band_noise.std_of=band"])  # a good value passes
    check([*SYN, "eval.band_noise.std_of=pixel"])  # only the evaluations that run are checked
    # the library path too: train_and_evaluate refuses before training (no run folder appears)
    from robustopt.cli.train import train_and_evaluate

    cfg = compose(
        "train", [*SYN, f"paths.output_dir={tmp_path}", "evaluations=[band_noise]", "eval.band_noise.std_of=pixel"]
    )
    with pytest.raises(ConfigError, match="eval.band_noise.std_of must be 'white' or 'band'"):
        train_and_evaluate(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert not any(tmp_path.iterdir())


def test_a_data_root_that_does_not_exist_is_an_error_unless_asked_for(tmp_path):
    fm = ["dataset=fashion_mnist", "logger=none"]
    with pytest.raises(ConfigError, match=r"data root .*nowhere does not exist.*paths.create_data_dir=true"):
        check([*fm, f"paths.data_dir={tmp_path / 'nowhere'}"])
    check([*fm, f"paths.data_dir={tmp_path / 'nowhere'}", "paths.create_data_dir=true"])
    check([*fm, f"paths.data_dir={tmp_path / 'nowhere'}", "dataset.download=true"])
    check([*SYN, f"paths.data_dir={tmp_path / 'nowhere'}"])  # the synthetic set reads no files
    check([*fm, f"paths.data_dir={tmp_path}"])


def test_evaluate_command_line_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        check([f"run_dir={tmp_path / 'none'}"], "evaluate", check_evaluate_config)
    with pytest.raises(ConfigError, match="no run directories"):
        check([f"run_dir={tmp_path}"], "evaluate", check_evaluate_config)
    run = RunDir(tmp_path / "run")
    run.write_config({"dataset": {"name": "synthetic"}, "model": {"name": "c2"}})
    run.set_status("completed")
    with pytest.raises(CheckpointError, match="has no weights"):  # checked before any work (issue 21)
        check([f"run_dir={tmp_path}"], "evaluate", check_evaluate_config)
    run.checkpoint_dir.mkdir()
    run.checkpoint_path.touch()
    with pytest.raises(ConfigError, match="unknown evaluation 'nosuch'"):
        check([f"run_dir={tmp_path}", "evaluations=[nosuch]"], "evaluate", check_evaluate_config)
    # the options are each run's own (merged per run): the default attacks need no grid at the check
    check([f"run_dir={tmp_path}", "evaluations=[robust_accuracy]"], "evaluate", check_evaluate_config)


@pytest.mark.slow
def test_refused_starts_print_one_line_and_leave_no_run_folder(tmp_path):
    out = tmp_path / "out"
    cases = {
        "optimizer=sgdd": "valid choices: adadelta, adagrad, adam",
        "optimizer.lr=-1": "lr must be > 0",
        "epochs=0": "epochs must be >= 1",
        f"paths.data_dir={tmp_path / 'nonexistent'}": "does not exist",
        "evaluations=[nosuch]": "unknown evaluation 'nosuch'",
        # checked only after training before issue 22
        "eval.band_noise.std_of=pixel": "eval.band_noise.std_of must be 'white' or 'band'",
    }
    for arg, text in cases.items():
        dataset = "dataset=fashion_mnist" if "data_dir" in arg else "dataset=synthetic"
        evaluations = ["evaluations=[band_noise]"] if arg.startswith("eval.") else []
        res = run_entry("train.py", [dataset, "logger=none", f"paths.output_dir={out}", *evaluations, arg])
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], (
            arg,
            res.stderr,
        )
        assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), (
            f"{arg} left files: {list(out.rglob('*'))}"
        )


def test_a_stub_run_folder_of_a_failed_start_is_removed(tmp_path, monkeypatch):
    """A user error inside the job (after Hydra made the folder) removes the folder when it holds only Hydra's files."""
    import robustopt.cli.app as app

    stub = tmp_path / "stub"
    (stub / ".hydra").mkdir(parents=True)
    (stub / "train.log").write_text("")
    kept = tmp_path / "kept"
    (kept / ".hydra").mkdir(parents=True)
    (kept / "meta.json").write_text("{}")

    class Job:
        name = "train"

    class Hydra:
        job = Job()

    for path, exists in ((stub, False), (kept, True)):
        monkeypatch.setattr(app, "output_dir", lambda p=path: p)
        monkeypatch.setattr(app.HydraConfig, "get", staticmethod(lambda: Hydra()))
        with pytest.raises(SystemExit):
            app.entry_point(lambda cfg: (_ for _ in ()).throw(ConfigError("bad")))(None)
        assert path.exists() == exists


@pytest.mark.slow
def test_where_the_data_live_is_not_part_of_a_runs_identity_from_the_command_line(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = [*SYN, f"paths.output_dir={tmp_path / 'out'}"]
    first = run_entry("train.py", [*base, f"paths.data_dir={tmp_path / 'a'}"])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_entry("train.py", [*base, f"paths.data_dir={tmp_path / 'b'}"])
    assert second.returncode == 0 and "different config" not in second.stderr, second.stderr[-2000:]
    assert "[completed]" in second.stdout


def test_identity_ignores_where_the_data_live():
    from robustopt.runs import config_diff, identity

    a = compose("train", ["paths.data_dir=/x"])
    b = compose("train", ["paths.data_dir=/y", "dataset.download=true", "paths.create_data_dir=true"])
    assert a["dataset"]["root"] != b["dataset"]["root"]
    assert config_diff(identity(a), identity(b)) == []


# -- bad tensors -------------------------------------------------------------------------------------------------


def _tiny_model(classes=10):
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, classes)).eval()


def test_nan_pixels_and_bad_labels_are_data_errors_in_attacks_and_evaluations():
    import robustopt
    from robustopt.attacks import PGD

    model = _tiny_model()
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3])
    nan = x.clone()
    nan[1, 0, 2, 2] = float("nan")
    with pytest.raises(DataError, match="1 NaN or infinite pixel"):
        PGD(eps=0.1, steps=2, norm="linf")(model, nan, y)
    with pytest.raises(DataError, match="1 NaN or infinite pixel"):
        robustopt.evaluate(model, (nan, y), evaluations=["clean"], device="cpu")
    bad = torch.tensor([0, 1, 22, 3])
    with pytest.raises(DataError, match=r"label 22 is out of range: the model has 10 classes.*0\.\.9"):
        PGD(eps=0.1, steps=2, norm="linf")(model, x, bad)
    with pytest.raises(DataError, match=r"label 22 is out of range: the model has 10 classes"):
        robustopt.evaluate(model, (x, bad), evaluations=["clean"], device="cpu")
    with pytest.raises(DataError, match=">= 0"):
        PGD(eps=0.1, steps=2, norm="linf")(model, x, torch.tensor([0, -1, 2, 3]))
    assert robustopt.evaluate(model, (x, y), evaluations=["clean"], device="cpu")["clean"]["n"] == 4


# -- results must not be lost ------------------------------------------------------------------------------------


def _curve(name, norm, eps, accs, masks, **options):
    return {
        "name": name,
        "norm": norm,
        "options": options,
        "eps": eps,
        "robust_accuracy": accs,
        "correct": masks,
        "seconds": 1.0,
    }


def test_robust_accuracy_merges_curves_by_label_and_eps_points_within_a_curve():
    old = {
        "dataset": "d",
        "n": 4,
        "clean_accuracy": 1.0,
        "attacks": {
            "fgsm-linf": _curve("fgsm", "linf", [0.1, 0.2], [0.5, 0.25], ["a", "b"]),
            "pgd-linf": _curve("pgd", "linf", [0.1, 0.2], [0.5, 0.0], ["c", "d"], steps=100),
        },
    }
    new = {
        "dataset": "d",
        "n": 4,
        "clean_accuracy": 1.0,
        "attacks": {
            "pgd-linf": _curve("pgd", "linf", [0.05, 0.2], [0.75, 0.25], ["e", "f"], steps=100),
            "pgd-l2": _curve("pgd", "l2", [0.5], [0.5], ["g"], steps=100),
        },
    }
    merged, dropped, note = merge_result("robust_accuracy", old, new)
    assert dropped is None and "fgsm-linf" in note
    assert set(merged["attacks"]) == {"fgsm-linf", "pgd-linf", "pgd-l2"}
    assert merged["attacks"]["fgsm-linf"] == old["attacks"]["fgsm-linf"]
    pgd = merged["attacks"]["pgd-linf"]
    assert (
        pgd["eps"] == [0.05, 0.1, 0.2]
        and pgd["robust_accuracy"] == [0.75, 0.5, 0.25]
        and pgd["correct"] == ["e", "c", "f"]
    )
    assert merged["attacks"]["pgd-l2"]["eps"] == [0.5]
    # other images: replaced (and the old result handed back to be kept), never merged
    other = {**new, "n": 3}
    merged, dropped, note = merge_result("robust_accuracy", old, other)
    assert merged is other and dropped is old and "other images" in note
    # a curve whose attack changed is replaced, not mixed
    changed = {**new, "attacks": {"pgd-linf": _curve("pgd", "linf", [0.3], [0.0], ["h"], steps=10)}}
    merged, _, note = merge_result("robust_accuracy", old, changed)
    assert merged["attacks"]["pgd-linf"]["eps"] == [0.3] and "pgd-linf" in note
    # replace=true drops the old one
    merged, dropped, _ = merge_result("robust_accuracy", old, new, replace=True)
    assert merged is new and dropped is None


def test_evaluate_pgd_l2_keeps_the_stored_linf_curves_final_and_matched(tmp_path):
    from robustopt.evaluation.pipeline import evaluate_model
    from robustopt.evaluation.registry import EvalData

    model = _tiny_model(4)
    x = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    data = EvalData(x, model(x).argmax(1).detach(), "synthetic")
    run = RunDir(tmp_path)
    eps = {"linf": [0.01, 0.05], "l2": [0.1, 0.5]}
    four = {
        "robust_accuracy": {
            "eps": eps,
            "n_samples": 16,
            "large_eps_steps": 2,
            "attacks": [
                {"name": "fgsm", "norm": "linf"},
                {"name": "pgd", "norm": "linf", "steps": 3},
                {"name": "fgsm", "norm": "l2"},
                {"name": "pgd", "norm": "l2", "steps": 3},
            ],
        }
    }
    l2 = {
        "robust_accuracy": {
            "eps": eps,
            "n_samples": 16,
            "large_eps_steps": 2,
            "attack": {"name": "pgd", "norm": "l2", "steps": 3, "eps": [0.1, 1.0]},
        }
    }
    for protocol in ("final", "matched"):
        evaluate_model(
            model,
            {},
            run,
            ["robust_accuracy"],
            four,
            device=torch.device("cpu"),
            data=data,
            protocol=protocol,
            progress=False,
        )
        before = run.stored_eval("robust_accuracy", protocol)
        evaluate_model(
            model,
            {},
            run,
            ["robust_accuracy"],
            l2,
            device=torch.device("cpu"),
            data=data,
            protocol=protocol,
            progress=False,
        )
        after = run.stored_eval("robust_accuracy", protocol)
        assert set(after["attacks"]) == {"fgsm-linf", "pgd-linf", "fgsm-l2", "pgd-l2"}
        for label in ("fgsm-linf", "pgd-linf", "fgsm-l2"):
            assert after["attacks"][label]["robust_accuracy"] == before["attacks"][label]["robust_accuracy"]
        assert after["attacks"]["pgd-l2"]["eps"] == [0.1, 0.5, 1.0]
        assert len(after["attacks"]["pgd-l2"]["correct"]) == 3
        evaluate_model(
            model,
            {},
            run,
            ["robust_accuracy"],
            l2,
            device=torch.device("cpu"),
            data=data,
            protocol=protocol,
            progress=False,
            replace=True,
        )
        assert set(run.stored_eval("robust_accuracy", protocol)["attacks"]) == {"pgd-l2"}


def test_other_evaluations_keep_a_differing_old_result():
    old = {"variances": [0.02], "accuracy": [0.5], "seconds": 1}
    assert merge_result("gaussian_noise", old, {**old, "seconds": 2})[1] is None  # same result: nothing to keep
    new = {"variances": [0.05], "accuracy": [0.4], "seconds": 1}
    stored, dropped, note = merge_result("gaussian_noise", old, new)
    assert stored is new and dropped is old and "eval_replaced.gaussian_noise" in note


def test_run_dir_keeps_replaced_results_and_clears_stale_errors(tmp_path):
    run = RunDir(tmp_path)
    run.write_eval("gaussian_noise", {"a": 2}, replaced={"a": 1})
    run.write_eval("gaussian_noise", {"a": 3}, replaced={"a": 2})
    assert run.summary()["eval"]["gaussian_noise"] == {"a": 3}
    assert run.summary()["eval_replaced"]["gaussian_noise"] == [{"a": 1}, {"a": 2}]
    run.set_status("failed", error="RuntimeError: boom")
    assert run.meta()["error"] == "RuntimeError: boom"
    run.update_meta(status="running")
    run.set_status("completed")
    meta = run.meta()
    assert "error" not in meta and meta["past_errors"][0]["error"] == "RuntimeError: boom"


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def test_completed_run_with_a_missing_or_corrupted_checkpoint_is_trained_again(tmp_path):
    from robustopt.runs import load_run_model
    from robustopt.train.pipeline import train_run

    cfg = compose("train", [*SYN, "epochs=2", f"paths.output_dir={tmp_path}"])
    target = tmp_path / "run"
    train_run(cfg, target)
    run = RunDir(target)
    trained = _weights(target)
    good = run.checkpoint_path.read_bytes()
    run.checkpoint_path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=r"is corrupted; re-run the command that trained it \(`.*`\)"):
        load_run_model(run)
    result = train_run(cfg, target)  # what `experiments/train.py` does with the same command
    assert result.status == "completed" and run.status == "completed"
    assert (run.checkpoint_dir / "last.pt.corrupted").read_bytes() == good[: len(good) // 2]
    assert all(torch.equal(trained[k], v) for k, v in _weights(target).items())  # same seeds, same weights (CPU)
    assert run.meta()["retrained"][0]["reason"] == "checkpoint unreadable"
    run.checkpoint_path.unlink()
    with pytest.raises(CheckpointError, match="is missing; re-run the command"):
        load_run_model(run)
    train_run(cfg, target)
    assert run.meta()["retrained"][1]["reason"] == "checkpoint missing" and load_run_model(run) is not None


def test_a_rerun_that_succeeds_clears_the_stale_error(tmp_path, monkeypatch):
    import robustopt.cli.train as cli_train

    cfg = compose("train", [*SYN, "evaluations=[clean]", f"paths.output_dir={tmp_path}"])
    monkeypatch.setattr(cli_train, "evaluate_model", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        cli_train.train_and_evaluate(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    assert run.status == "failed" and "boom" in run.meta()["error"]
    monkeypatch.undo()
    cli_train.train_and_evaluate(cfg, tmp_path / "run")
    assert run.status == "completed" and "error" not in run.meta()
    assert "boom" in run.meta()["past_errors"][-1]["error"]


# -- scripts that must not print an empty table --------------------------------------------------------------------


def test_compare_runs_on_a_missing_or_empty_folder_is_an_error(tmp_path, capsys):
    from robustopt.cli.compare import main

    assert main([str(tmp_path / "nonexistent")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_irrelevant_freq_summarize_of_a_missing_folder_is_an_error(tmp_path):
    from robustopt.cli.irrelevant_freq import summarize

    with pytest.raises(ConfigError, match="no such folder"):
        summarize(tmp_path / "missing")
    with pytest.raises(ConfigError, match="no run directories"):
        summarize(tmp_path)
    assert not (tmp_path / "irrelevant_freq.json").exists()


@pytest.mark.slow
def test_scripts_exit_non_zero_on_a_missing_folder(tmp_path):
    import subprocess

    env = clean_env(PYTHONPATH=str(REPO))
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts/compare_runs.py"), "/nonexistent"], capture_output=True, text=True, env=env
    )
    assert res.returncode == 2 and res.stderr.startswith("error:") and not res.stdout
    res = run_entry("irrelevant_freq.py", [f"summarize={tmp_path / 'missing'}"])
    assert res.returncode == 2 and res.stderr.strip().startswith("error: summarize=")


# -- the README, the console scripts, the layout ----------------------------------------------------------------


def test_console_scripts_are_the_entry_points():
    import importlib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {
        "robustopt-train",
        "robustopt-evaluate",
        "robustopt-irrelevant-freq",
        "robustopt-linear-theory",
        "robustopt-report",
        "robustopt-compare",
    } <= set(scripts)
    for target in scripts.values():
        module, _, fn = target.partition(":")
        assert callable(getattr(importlib.import_module(module), fn)), target
    for name in ("train", "evaluate", "irrelevant_freq", "linear_theory"):  # experiments/*.py call the same main
        assert f"from robustopt.cli.{name} import main" in (REPO / "experiments" / f"{name}.py").read_text()


@pytest.mark.slow
def test_console_script_finds_conf_from_any_working_directory(tmp_path):
    import subprocess

    code = (
        "import sys; from robustopt.cli.train import main; "
        "sys.argv = ['robustopt-train', 'dataset=synthetic', 'epochs=1', 'logger=none', 'progress=false']; main()"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(PYTHONPATH=str(REPO)),
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "outputs" / "runs" / "default" / "dataset-synthetic_epochs-1"
    assert RunDir(run).status == "completed" and (run / "train.log").exists()  # the job is still named 'train'


def test_readme_enters_the_environment_and_names_the_clone_folder():
    text = (REPO / "README.md").read_text()
    head = text[: text.index("## Using the library from Python")]
    assert "source .venv/bin/activate" in head
    clone = re.search(r"git clone \S+ (\S+)", head)
    assert clone and clone.group(1) != "robustopt", "the clone folder must not shadow the package"
    assert "unknown location" in text  # the layout section explains the shadowing error


@pytest.mark.slow
def test_a_script_next_to_the_clone_folder_imports_the_package(tmp_path):
    """The README's layout (clone into robustopt-repo): a script in the folder that holds the clone imports
    robustopt."""
    import subprocess

    (tmp_path / "robustopt-repo").symlink_to(REPO)
    (tmp_path / "snippet.py").write_text("from robustopt.data import load_dataset\nprint(load_dataset.__module__)\n")
    res = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, env=clean_env())
    assert res.returncode == 0 and res.stdout.strip() == "robustopt.data", res.stderr[-2000:]


def test_no_unmeasured_time_estimates():
    """Time estimates in the README and the demo scripts are measured ones (the paragraph says how and where)."""
    readme = (REPO / "README.md").read_text()
    assert "TODO" not in readme
    estimate = re.compile(
        r"\b(about|takes|in|within) (a few|\d+(\.\d+)?) (seconds|minutes|hours)\b|under a minute", re.I
    )
    for path in ("README.md", "scripts/demo.sh", "scripts/reproduce.sh", "Makefile"):
        for para in (REPO / path).read_text().split("\n\n"):
            if estimate.search(para) and "measured" not in para and "AutoAttack costs" not in para:
                pytest.fail(
                    f"{path}: an unmeasured time estimate: {estimate.search(para).group(0)!r} in {para[:200]!r}"
                )


def test_report_output_in_the_readme_is_git_ignored():
    readme = (REPO / "README.md").read_text()
    outs = re.findall(r"--out (\S+)", readme)
    assert outs and all(o.startswith("outputs/") for o in outs), outs
    assert "/outputs/" in (REPO / ".gitignore").read_text().split()


def test_documented_attack_config_is_valid_when_saved_in_conf(tmp_path, monkeypatch):
    """docs/plugins.md's RandomCorner, saved as the page says (my_attacks.py + conf/attack/random_corner.yaml),
    composes with attack=random_corner and builds an attack with the spec's norm (what test_shipped_configs checks)."""
    import shutil

    from omegaconf import OmegaConf

    from robustopt.attacks import build_attack
    from robustopt.registry import load_plugins

    page = (REPO / "docs" / "plugins.md").read_text()
    code = re.search(r"```python\n# my_attacks\.py\n(.*?)```", page, re.S).group(1)
    (tmp_path / "my_attacks.py").write_text(code)
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "attack" / "random_corner.yaml").write_text(
        "# @package eval.robust_accuracy.attack\nname: random_corner\nnorm: linf\n"
    )
    from robustopt.attacks import ATTACKS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ATTACKS, "_entries", dict(ATTACKS._entries))  # the registry as it was, afterwards
    load_plugins([str(tmp_path / "my_attacks.py")])
    spec = OmegaConf.to_container(OmegaConf.load(conf / "attack" / "random_corner.yaml"))
    assert build_attack(spec, eps=0.1).norm == "linf"
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = hydra_compose("evaluate", [f"run_dir={tmp_path}", "attack=random_corner"])
    assert cfg.eval.robust_accuracy.attack.name == "random_corner"


@pytest.mark.slow
def test_target_attack_from_an_empty_folder_without_pythonpath_dot(tmp_path):
    """``{_target_: my_attacks.RandomCorner, norm: linf}`` finds my_attacks.py in the folder evaluate.py runs from."""
    out = tmp_path / "out"
    res = run_entry("train.py", [*SYN, f"paths.output_dir={out}"])
    assert res.returncode == 0, res.stderr[-2000:]
    page = (REPO / "docs" / "plugins.md").read_text()
    (tmp_path / "my_attacks.py").write_text(re.search(r"```python\n# my_attacks\.py\n(.*?)```", page, re.S).group(1))
    res = run_entry(
        "evaluate.py",
        [
            f"run_dir={out / 'runs'}",
            "evaluations=[robust_accuracy]",
            "logger=none",
            "progress=false",
            "eval.robust_accuracy.attacks=[{_target_: my_attacks.RandomCorner, norm: linf}]",
            "eval.robust_accuracy.eps.linf=[0.05]",
            "eval.robust_accuracy.n_samples=20",
            f"paths.output_dir={out}",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO)},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (run,) = [r for r in RunDir(out).path.rglob("summary.json")]
    assert "RandomCorner-linf" in RunDir(run.parent).summary()["eval"]["robust_accuracy"]["attacks"]


def test_a_config_that_is_itself_a_multirun_is_checked_job_by_job_without_dash_m():
    """irrelevant_freq.yaml sets hydra.mode MULTIRUN: its sweeps on the command line (as scripts/reproduce.sh writes
    them) are jobs, not an ambiguous value, and each job is checked (make demo broke here once)."""
    sweep = (
        "data_filter={name:null,keep_fraction:1.0},{name:high_frequency,keep_fraction:0.5},"
        "{name:low_energy,keep_fraction:0.5}"
    )
    assert check(["experiment=reproduce_quick", sweep, "epochs=10"], config="irrelevant_freq") == 3
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        check(["experiment=reproduce_quick", sweep, "epochs=0"], config="irrelevant_freq")
    assert check(["optimizer=sgd", "epochs=1"]) == 1  # train.yaml is not a multirun without -m
