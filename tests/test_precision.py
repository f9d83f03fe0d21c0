"""precision=bf16: bf16 autocast for each training step on the CPU, with fp32 weights, optimizer state and
evaluations; a resumed bf16 run is bitwise an uninterrupted one; bad values are one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustopt.errors import ConfigError
from robustopt.train.fit import fit
from tests.conftest import compose


def _training(tmp_path: Path, *extra: str, model: str = "mlp"):
    from robustopt.train.pipeline import build_training

    cfg = compose(
        "train",
        [
            "dataset=synthetic",
            f"model={model}",
            "dataset.train_subset=64",
            "dataset.test_subset=32",
            "batch_size=16",
            "epochs=2",
            "scheduler=multistep",
            "scheduler.milestones=[1]",
            "logger=none",
            "progress=false",
            f"paths.output_dir={tmp_path}",
            *extra,
        ],
    )
    return build_training(cfg, torch.device("cpu"))


class _Killed(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_bf16_run_killed_mid_epoch_resumes_bitwise(optimizer, tmp_path):
    extra = ["optimizer=adam", "optimizer.fused=true"] if optimizer == "adam" else [f"optimizer={optimizer}"]

    def run(ckpt, on_step=None):
        t = _training(tmp_path, *extra)
        return t, fit(
            t.model,
            t.optimizer,
            t.batches,
            t.test,
            epochs=2,
            scheduler=t.scheduler,
            checkpoint_path=ckpt,
            progress=False,
            on_step=on_step,
            precision="bf16",
            channels_last=True,
        )

    ref, ref_result = run(tmp_path / "ref.pt")

    def kill(step):
        if step == 6:
            raise _Killed

    with pytest.raises(_Killed):
        run(tmp_path / "killed.pt", kill)
    resumed, result = run(tmp_path / "killed.pt")
    assert result.resumed_from_epoch == 1
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert a.dtype == torch.float32 and torch.equal(a, b), f"{k} differs after resume"
    assert [m["test_loss"] for m in ref_result.history] == [m["test_loss"] for m in result.history]


def test_bf16_autocasts_the_training_step_and_keeps_weights_and_optimizer_state_fp32(tmp_path):
    seen = []
    fp32, bf16 = _training(tmp_path, "optimizer=adam"), _training(tmp_path, "optimizer=adam")
    init = {k: v.clone() for k, v in fp32.model.state_dict().items()}
    hook = bf16.model.register_forward_hook(lambda m, i, out: seen.append((m.training, out.dtype)))
    fit(fp32.model, fp32.optimizer, fp32.batches, fp32.test, epochs=1, progress=False)
    fit(bf16.model, bf16.optimizer, bf16.batches, bf16.test, epochs=1, progress=False, precision="bf16")
    hook.remove()
    # training steps ran in bf16; the per-epoch test pass in fp32
    assert {dtype for training, dtype in seen if training} == {torch.bfloat16}
    assert {dtype for training, dtype in seen if not training} == {torch.float32}
    a, b = fp32.model.state_dict(), bf16.model.state_dict()
    assert all(v.dtype == torch.float32 for v in b.values())
    assert all(
        v.dtype == torch.float32
        for s in bf16.optimizer.state.values()
        for v in s.values()
        if torch.is_tensor(v) and v.numel() > 1
    )

    # from the same start on the same batches, bf16 rounding changes the weights, much less than training moved them
    def norm(d):
        return float(torch.sqrt(sum((v.double() ** 2).sum() for v in d.values())))

    diff = norm({k: a[k] - b[k] for k in a})
    moved = norm({k: a[k] - init[k] for k in a})
    assert 0 < diff < 0.25 * moved, (diff, moved)


def test_bad_precision_is_one_clear_error(tmp_path):
    t = _training(tmp_path)
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, got 'fp16'"):
        fit(t.model, t.optimizer, t.batches, epochs=1, progress=False, precision="fp16")


def test_precision_fp32_is_the_identity_of_runs_made_before_the_key(tmp_path):
    from robustopt.runs import config_diff, identity

    old = compose("train", ["dataset=synthetic", f"paths.output_dir={tmp_path}"])
    old.pop("precision")
    new = compose("train", ["dataset=synthetic", f"paths.output_dir={tmp_path}"])
    assert new["precision"] == "fp32" and config_diff(identity(old), identity(new)) == []
    bf16 = compose("train", ["dataset=synthetic", "precision=bf16", f"paths.output_dir={tmp_path}"])
    assert config_diff(identity(old), identity(bf16)) == ["precision (None -> 'bf16')"]
