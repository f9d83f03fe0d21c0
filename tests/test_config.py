"""Config validation: typos, wrong types and unknown names fail at start-up with a message that
names the key and the valid choices; presets compose to the paper's recipe."""

from __future__ import annotations

import re

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import ValidationError

from tests.conftest import REPO, compose, run_entry

PAPER_LR = {  # the paper's learning rates (SGD, Adam, RMSprop)
    "mnist": (0.1, 5e-4, 5e-4),
    "fashion_mnist": (0.01, 5e-4, 5e-5),
    "cifar10": (0.2, 2e-4, 5e-4),
    "cifar100": (0.3, 5e-4, 5e-4),
    "svhn": (0.2, 2e-4, 2e-4),
    "caltech101": (0.05, 2e-4, 1e-3),
    "imagenette": (0.1, 2e-4, 2e-4),
}


@pytest.mark.parametrize("dataset", sorted(PAPER_LR))
def test_paper_presets(dataset):
    for opt, lr in zip(("sgd", "adam", "rmsprop"), PAPER_LR[dataset]):
        cfg = compose("train", [f"experiment=paper_{dataset}", f"optimizer={opt}"])
        assert cfg["optimizer"]["lr"] == pytest.approx(lr)
        assert cfg["dataset"]["name"] == dataset
        assert cfg["epochs"] == 200 and cfg["batch_size"] == 128
        assert cfg["scheduler"] == {
            "name": "multistep",
            "milestones": [100, 150],
            "gamma": 0.1,
            "warmup_epochs": 0,
            "warmup_start_factor": 0.1,
        }
        assert cfg["optimizer"]["weight_decay"] == 0.0
    sgd = compose("train", [f"experiment=paper_{dataset}", "optimizer=sgd"])["optimizer"]
    assert sgd["momentum"] == 0.0 and not sgd["nesterov"]
    assert compose("train", [f"experiment=paper_{dataset}", "optimizer=adam"])["optimizer"]["betas"] == [0.9, 0.999]
    assert compose("train", [f"experiment=paper_{dataset}", "optimizer=rmsprop"])["optimizer"]["alpha"] == 0.99
    ds = compose("train", [f"experiment=paper_{dataset}"])["dataset"]
    expected_aug = {
        "cifar10": (2, True, None),
        "cifar100": (2, True, None),
        "svhn": (2, False, None),
        "caltech101": (0, True, True),
        "imagenette": (0, True, True),
    }.get(dataset, (0, False, None))
    assert (ds["crop_padding"], ds["hflip"], ds["random_resized_crop"]) == expected_aug
    assert ds["normalize"] is False


def test_the_presets_spell_the_papers_constants():
    """conf/experiment/paper_*.yaml (and the quick presets' Fashion-MNIST learning rates) say what robustopt.paper
    says: learning rates, recipe, model, band-noise variance; Gaussian variances and eps grids are left to it (null)."""
    import yaml

    from robustopt import paper

    assert {ds: tuple(paper.LEARNING_RATES[ds][o] for o in ("sgd", "adam", "rmsprop")) for ds in PAPER_LR} == PAPER_LR
    assert sorted(p.stem.removeprefix("paper_") for p in (REPO / "conf" / "experiment").glob("paper_*.yaml")) == sorted(
        paper.LEARNING_RATES
    )
    for dataset, lrs in paper.LEARNING_RATES.items():
        preset = yaml.safe_load((REPO / "conf" / "experiment" / f"paper_{dataset}.yaml").read_text())
        assert preset["lr_by_optimizer"] == lrs, dataset
        assert (
            f"override /model: {paper.MODELS[dataset]}"
            in (REPO / "conf" / "experiment" / f"paper_{dataset}.yaml").read_text()
        )
        assert preset["epochs"] == paper.RECIPE["epochs"] and preset["batch_size"] == paper.RECIPE["batch_size"]
        assert preset["optimizer"]["weight_decay"] == paper.RECIPE["weight_decay"]
        assert preset["scheduler"] == {"milestones": list(paper.RECIPE["milestones"]), "gamma": paper.RECIPE["gamma"]}
        assert preset["eval"]["band_noise"]["variance"] == paper.BAND_NOISE_VARIANCE[dataset], dataset
        assert preset["eval"]["gaussian_noise"]["variances"] is None  # robustopt.paper.GAUSSIAN_VARIANCES
        assert "eps" not in preset["eval"]["robust_accuracy"]  # robustopt.paper.EPS_GRIDS
    for name in ("quick", "reproduce_quick"):
        preset = yaml.safe_load((REPO / "conf" / "experiment" / f"{name}.yaml").read_text())
        assert preset["lr_by_optimizer"] == paper.LEARNING_RATES["fashion_mnist"], name
    quick = yaml.safe_load((REPO / "conf" / "experiment" / "reproduce_quick.yaml").read_text())["eval"]
    grid = paper.EPS_GRIDS["fashion_mnist"]  # the smallest and the middle eps of the paper's grids
    assert quick["robust_accuracy"]["eps"] == {"linf": list(grid["linf"][:2]), "l2": list(grid["l2"][:2])}
    assert quick["band_noise"]["variance"] == paper.BAND_NOISE_VARIANCE["fashion_mnist"]


def test_command_line_lr_beats_the_preset():
    cfg = compose("train", ["experiment=paper_cifar10", "optimizer=adam", "optimizer.lr=0.123"])
    assert cfg["optimizer"]["lr"] == 0.123


def test_unknown_optimizer_lists_choices():
    with pytest.raises(MissingConfigException) as err:
        compose("train", ["optimizer=sgdd"])
    assert "sgdd" in str(err.value) and "rmsprop" in str(err.value) and "signsgd" in str(err.value)


def test_typo_in_key_names_the_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose("train", ["optimizer.lrr=0.1"])
    assert "lrr" in str(err.value)
    with pytest.raises(ConfigCompositionException) as err:
        compose("train", ["epochz=3"])
    assert "epochz" in str(err.value)


def test_added_keys_are_checked_when_the_run_starts(tmp_path):
    """``+key=value`` gets past Hydra's struct check; the builders still reject unknown options."""
    import torch

    from robustopt.errors import ConfigError
    from robustopt.train.pipeline import build_training

    base = ["dataset=synthetic", f"paths.output_dir={tmp_path}"]
    with pytest.raises(ConfigError, match=r"optimizer 'adam' has no option\(s\) momentum; its options are: lr, betas"):
        build_training(compose("train", [*base, "optimizer=adam", "+optimizer.momentum=0.9"]), torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"scheduler 'cosine' has no option\(s\) gama"):
        build_training(compose("train", [*base, "scheduler=cosine", "+scheduler.gama=0.9"]), torch.device("cpu"))


def test_wrong_type_is_rejected():
    with pytest.raises((ConfigCompositionException, ValidationError)) as err:
        compose("train", ["epochs=abc"])
    assert "abc" in str(err.value.__cause__ or err.value)
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose("train", ["optimizer.lr=fast"])


@pytest.mark.slow
def test_entry_point_prints_one_line_and_exits_nonzero(tmp_path):
    res = run_entry("train.py", ["optimizer=sgdd", f"paths.output_dir={tmp_path}"])
    assert res.returncode != 0
    assert "sgdd" in res.stderr and "adam" in res.stderr
    res = run_entry(
        "train.py", ["dataset=synthetic", "logger=none", "+model.options.widht=3", f"paths.output_dir={tmp_path}"]
    )
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("error: model 'c2' has no option(s) widht; its options are: none")
    )
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.rglob("checkpoints/*.pt")), "a failed start must not leave a checkpoint"


@pytest.mark.slow
def test_missing_dataset_is_a_clear_error(tmp_path):
    res = run_entry(
        "train.py",
        ["dataset=cifar10", "logger=none", f"paths.data_dir={tmp_path / 'nodata'}", f"paths.output_dir={tmp_path}"],
    )
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "cifar-10-batches-py" in last
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_preset_without_lr_for_optimizer_fails_clearly(tmp_path):
    res = run_entry(
        "train.py", ["experiment=paper_mnist", "optimizer=adagrad", "logger=none", f"paths.output_dir={tmp_path}"]
    )
    assert res.returncode != 0
    assert "lr_by_optimizer" in res.stderr and "adagrad" in res.stderr


def test_run_dirname_is_short_stable_and_parseable():
    from robustopt.cli import run_dirname

    assert run_dirname([]) == "default"
    assert run_dirname(["seed=1", "optimizer=adam", "device=cuda", "logger=none"]) == "optimizer-adam_seed-1"
    assert run_dirname(["optimizer=adam", "seed=1"]) == run_dirname(["seed=1", "optimizer=adam"])
    assert (
        run_dirname(["eval.robust_accuracy.n_samples=5", "+paths.output_dir=/x", "optimizer.lr=1e-3"])
        == "optimizer.lr-1e-3"
    )
    assert run_dirname(["theory=quick", "lr=0.1"], "theory") == "lr-0.1"
    long = run_dirname([f"+model.options.k{i}=[1,2,3]" for i in range(40)])
    assert len(long) <= 120 and "=" not in long and "," not in long and "/" not in long
    assert long != run_dirname([f"+model.options.k{i}=[1,2,3]" for i in range(39)])


@pytest.mark.slow
def test_run_dir_can_be_passed_back_to_evaluate(tmp_path):
    res = run_entry(
        "train.py",
        [
            "dataset=synthetic",
            "epochs=1",
            "logger=none",
            "progress=false",
            "optimizer.lr=0.05",
            "eval.robust_accuracy.n_samples=7",
            f"paths.output_dir={tmp_path}",
        ],
    )
    assert res.returncode == 0, res.stderr[-2000:]
    (run_dir,) = (tmp_path / "runs" / "default").iterdir()
    assert run_dir.name == "dataset-synthetic_epochs-1_optimizer.lr-0.05"
    ev = run_entry(
        "evaluate.py",
        [f"run_dir={run_dir}", "evaluations=[clean]", "logger=none", "progress=false", f"paths.output_dir={tmp_path}"],
    )
    assert ev.returncode == 0, ev.stderr[-2000:]


# -- defaults live in one place ------------------------------------------------------------------------------
def _schema_defaults(path):
    """The defaults a config file of conf/ is composed onto: its schema dataclass, or its evaluation's DEFAULTS."""
    from omegaconf import OmegaConf

    from robustopt.cli import schema
    from robustopt.evaluation import evaluation_defaults

    rel = path.relative_to(REPO / "conf")
    group, name = (rel.parts[0], rel.stem) if len(rel.parts) > 1 else (None, rel.stem)
    primary = {
        "train": schema.TrainConfig,
        "evaluate": schema.EvaluateConfig,
        "linear_theory": schema.LinearTheoryConfig,
    }
    groups = {
        "optimizer": schema.OPTIMIZER_SCHEMAS.get,
        "scheduler": schema.SCHEDULER_SCHEMAS.get,
        "paths": lambda n: schema.PathsConfig,
        "logger": lambda n: schema.LoggerConfig,
        "dataset": lambda n: schema.DatasetConfig,
        "model": lambda n: schema.ModelConfig,
    }
    if group is None and name in primary:
        return OmegaConf.to_container(OmegaConf.structured(primary[name]))
    if group in groups:
        return OmegaConf.to_container(OmegaConf.structured(groups[group](name)))
    if group == "eval":
        return evaluation_defaults(name)
    return None


def _repeated(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    out = []
    for key, value in (values or {}).items():
        if (not prefix and key in ("defaults", "hydra")) or key not in defaults:
            continue
        if isinstance(value, dict) and isinstance(defaults[key], dict) and value != defaults[key]:
            out += _repeated(value, defaults[key], f"{prefix}{key}.")
        elif value == defaults[key]:
            out.append(f"{prefix}{key}")
    return out


def test_config_files_hold_only_what_differs_from_their_schema():
    """A default is written once: in the schema dataclass (robustopt/cli/schema.py) or the evaluation's DEFAULTS;
    a config file that repeats one would drift from it unnoticed."""
    import yaml

    checked, repeated = 0, {}
    for path in sorted((REPO / "conf").rglob("*.yaml")):
        defaults = _schema_defaults(path)
        if defaults is None:
            continue
        checked += 1
        found = _repeated(yaml.safe_load(path.read_text()) or {}, defaults)
        if found:
            repeated[str(path.relative_to(REPO))] = found
    assert checked >= 30 and not repeated, f"config files repeat their schema's defaults: {repeated}"
    # the checker itself: a file that repeats a default is caught
    assert _repeated({"lr": 0.01, "momentum": 0.9, "defaults": ["sgd_schema"]}, {"lr": 0.01, "momentum": 0.0}) == ["lr"]


def test_composed_groups_equal_their_single_source():
    from dataclasses import asdict

    from robustopt.cli import schema
    from robustopt.evaluation import EVALUATIONS, evaluation_defaults

    for name, node in schema.OPTIMIZER_SCHEMAS.items():
        assert compose("train", [f"optimizer={name}"])["optimizer"] == schema.expand_optimizer(asdict(node())), name
    for name, node in schema.SCHEDULER_SCHEMAS.items():
        assert compose("train", [f"scheduler={name}"])["scheduler"] == asdict(node()), name
    cfg = compose("train", [])
    assert set(cfg["eval"]) == set(EVALUATIONS.names())
    for name in EVALUATIONS.names():
        assert cfg["eval"][name] == evaluation_defaults(name), name
    assert compose("evaluate", ["run_dir=x"])["eval"] == cfg["eval"]
    assert compose("train", ["paths.output_dir=/o"])["paths"]["init_dir"] == "/o/inits"


def test_eval_config_files_document_every_option():
    """conf/eval/<name>.yaml only documents its evaluation's options (``#   option: ...``): every one, and no other."""
    from robustopt.evaluation import EVALUATIONS, evaluation_defaults

    files = sorted((REPO / "conf" / "eval").glob("*.yaml"))
    assert {p.stem for p in files} == set(EVALUATIONS.names())
    for path in files:
        text = path.read_text()
        assert text.startswith(f"# @package eval.{path.stem}\n") and f"defaults: [{path.stem}_defaults, _self_]" in text
        documented = set(re.findall(r"^#   (\w+):", text, flags=re.M))
        assert documented == set(evaluation_defaults(path.stem)), path.name
