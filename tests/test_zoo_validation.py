"""The validation split (dataset.validation_size): seeded, class-stratified, removed from the training set,
off by default without changing any existing run; a run records its validation accuracy each epoch."""

from __future__ import annotations

import pytest
import torch

from robustopt.data import load_configured_split, split_validation
from robustopt.errors import ConfigError
from robustopt.runs import config_diff, identity
from tests.conftest import compose


def _labels():
    # 3 classes of 50, 30 and 20 examples, interleaved
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)[torch.randperm(100, generator=torch.Generator().manual_seed(1))]
    x = torch.arange(100).view(100, 1, 1, 1).to(torch.uint8)  # each image's pixel is its index
    return x, y


def test_split_is_stratified_disjoint_complete_and_keeps_the_training_order():
    x, y = _labels()
    (xt, yt), (xv, yv) = split_validation(x, y, 20, seed=3)
    assert len(yv) == 20 and len(yt) == 80
    assert torch.bincount(yv, minlength=3).tolist() == [10, 6, 4]  # 20 * (0.5, 0.3, 0.2)
    train_ids, val_ids = xt.flatten().tolist(), xv.flatten().tolist()
    assert not set(train_ids) & set(val_ids) and sorted(train_ids + val_ids) == list(range(100))
    assert train_ids == sorted(train_ids) and val_ids == sorted(val_ids)
    assert torch.equal(y[xv.flatten().long()], yv) and torch.equal(y[xt.flatten().long()], yt)


def test_split_rounds_to_the_largest_remainders_and_depends_on_the_seed_only():
    x, y = _labels()
    (_, _), (_, yv) = split_validation(x, y, 7, seed=0)  # exact shares 3.5, 2.1, 1.4 -> 3 + 2 + 1, one more to class 0
    assert torch.bincount(yv, minlength=3).tolist() == [4, 2, 1]
    before = torch.get_rng_state()
    a = split_validation(x, y, 20, seed=5)[1][0]
    assert torch.equal(torch.get_rng_state(), before), "the global RNG must not be used"
    assert torch.equal(a, split_validation(x, y, 20, seed=5)[1][0])
    assert not torch.equal(a, split_validation(x, y, 20, seed=6)[1][0])


@pytest.mark.parametrize("size", [0, 100, 150])
def test_a_validation_size_that_does_not_fit_is_a_config_error(size):
    x, y = _labels()
    with pytest.raises(ConfigError, match="validation_size must be between 1 and"):
        split_validation(x, y, size, seed=0)


def test_off_by_default_and_no_change_to_existing_runs_identity(tmp_path):
    cfg = compose("train", ["dataset=synthetic", f"paths.output_dir={tmp_path}"])
    assert cfg["dataset"]["validation_size"] is None
    old = {**cfg, "dataset": {k: v for k, v in cfg["dataset"].items() if k != "validation_size"}}
    assert config_diff(identity(old), identity(cfg)) == []
    on = compose("train", ["dataset=synthetic", "dataset.validation_size=64", f"paths.output_dir={tmp_path}"])
    assert config_diff(identity(old), identity(on)) == ["dataset.validation_size (None -> 64)"]


def test_without_validation_the_training_data_are_unchanged(tmp_path):
    from robustopt.train.pipeline import build_training

    cfg = compose("train", ["dataset=synthetic", "logger=none", f"paths.output_dir={tmp_path}"])
    training = build_training(cfg, torch.device("cpu"))
    x, y = load_configured_split(cfg["dataset"], "train")
    assert training.validation is None
    stored = (
        training.batches.x
        if training.batches.x.dtype == torch.uint8
        else (training.batches.x * 255).round().to(torch.uint8)
    )
    assert torch.equal(stored, x) and torch.equal(training.batches.y, y)


@pytest.mark.slow
def test_run_records_validation_accuracy_of_the_held_out_images(tmp_path):
    from robustopt.rundir import RunDir
    from robustopt.runs import load_run_model
    from robustopt.train.pipeline import build_training, train_run

    cfg = compose(
        "train",
        [
            "dataset=synthetic",
            "dataset.validation_size=96",
            "epochs=2",
            "logger=none",
            "progress=false",
            "scheduler=constant",
            f"paths.output_dir={tmp_path}",
        ],
    )
    training = build_training(cfg, torch.device("cpu"))
    x, y = load_configured_split(cfg["dataset"], "train")
    assert len(training.validation[1]) == 96 and len(training.batches.y) == len(y) - 96
    held = {tuple(img.flatten().tolist()) for img in training.validation[0].float() / 255}
    assert not any(tuple(img.flatten().tolist()) in held for img in training.batches.x.float())
    train_run(cfg, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    metrics = run.metrics()
    assert [("validation_accuracy" in m and "validation_loss" in m) for m in metrics] == [True, True]
    model = load_run_model(run, "cpu")
    with torch.no_grad():
        xv, yv = training.validation
        acc = (model(xv.float() / 255).argmax(1) == yv).double().mean().item()
    assert metrics[-1]["validation_accuracy"] == pytest.approx(acc, abs=1e-12)
