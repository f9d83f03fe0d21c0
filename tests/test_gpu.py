"""The CUDA path: training (AMP, channels_last), attacks (AutoAttack included), noise and Lipschitz evaluations on a
GPU, each checked against the same computation on the CPU.  Skipped where no GPU is visible (CI has none).

``ROBUSTOPT_TEST_GPU_DEVICE=cpu`` runs them on the CPU instead, to check the tests themselves without a GPU.
"""

from __future__ import annotations

import os

import pytest
import torch

DEV = os.environ.get("ROBUSTOPT_TEST_GPU_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEV == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible)"
)


def _data(n=512, seed=0):
    from robustopt.data import load_dataset

    x, y = load_dataset("synthetic", split="train")
    return x[:n], y[:n]


def test_fit_on_cuda_with_amp_and_channels_last_learns_and_checkpoints(tmp_path):
    from robustopt.data import TensorBatches
    from robustopt.models import init_model
    from robustopt.optim import build_optimizer
    from robustopt.train import fit

    x, y = _data()
    dev = torch.device(DEV)
    for amp, cl in ((False, False), (True, True)):
        model = init_model(0, "c2", 1, 4, 16)
        opt = build_optimizer("adam", model.parameters(), lr=1e-3)
        res = fit(
            model,
            opt,
            TensorBatches(x, y, 64, device=dev),
            (x.to(dev), y.to(dev)),
            epochs=3,
            device=dev,
            amp=amp,
            channels_last=cl,
            progress=False,
            checkpoint_path=tmp_path / f"{amp}.pt",
        )
        assert res.status == "completed"
        assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
        assert (tmp_path / f"{amp}.pt").exists()


def test_fit_on_cuda_matches_cpu_in_fp32():
    from robustopt.data import TensorBatches
    from robustopt.models import init_model
    from robustopt.optim import build_optimizer
    from robustopt.train import fit

    torch.backends.cudnn.allow_tf32 = False  # plain fp32 on the GPU, to compare with the CPU
    torch.backends.cuda.matmul.allow_tf32 = False
    x, y = _data(256)
    finals = []
    for dev in ("cpu", DEV):
        model = init_model(0, "c2", 1, 4, 16)
        opt = build_optimizer("sgd", model.parameters(), lr=0.05)
        fit(model, opt, TensorBatches(x, y, 64, device=dev), None, epochs=2, device=dev, progress=False)
        finals.append(torch.cat([p.detach().cpu().flatten() for p in model.parameters()]))
    torch.testing.assert_close(finals[0], finals[1], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("norm,eps", [("linf", 0.03), ("l2", 0.5)])
def test_pgd_and_autoattack_on_cuda(norm, eps):
    from robustopt.attacks import PGD, build_attack
    from robustopt.models import init_model

    x, y = _data(64)
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    model = init_model(0, "c2", 1, 10, 16).to(DEV).eval()  # 10 classes: AutoAttack's APGD-T and FAB-T target 9 of them
    xc, yc = x.to(DEV), y.to(DEV)
    adv = PGD(eps=eps, steps=10, norm=norm, seed=0)(model, xc, yc)
    delta = (adv - xc).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5) + 1e-6 and float(adv.min()) >= 0 and float(adv.max()) <= 1
    aa = build_attack("autoattack", eps=eps, norm=norm, version="standard", seed=0)(model, xc[:16], yc[:16])
    with torch.no_grad():
        assert (model(aa).argmax(1) == yc[:16]).sum() <= (model(adv[:16]).argmax(1) == yc[:16]).sum()


def test_every_evaluation_runs_on_cuda_and_agrees_with_cpu():
    from robustopt.evaluation.pipeline import EVALUATIONS
    from robustopt.evaluation.registry import EvalContext, EvalData
    from robustopt.models import init_model

    x, y = _data(256)
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    results = {}
    for dev in ("cpu", DEV):
        model = init_model(0, "c2", 1, 4, 16).to(dev).eval()
        data = EvalData(x.to(dev), y.to(dev), "synthetic")
        ctx = EvalContext(device=torch.device(dev), batch_size=128, seed=0)
        results[dev] = {
            "clean": EVALUATIONS.get("clean")(model, data, {}, ctx),
            "gaussian_noise": EVALUATIONS.get("gaussian_noise")(model, data, {"variances": [0.01]}, ctx),
            "band_noise": EVALUATIONS.get("band_noise")(model, data, {"variance": 0.1, "bases": ["dct"]}, ctx),
            "lipschitz": EVALUATIONS.get("lipschitz")(
                model, data, {"n_samples": 8, "ascent_steps": 2, "cache": False, "plot": False}, ctx
            ),
        }
    assert results["cpu"]["clean"]["accuracy"] == pytest.approx(results[DEV]["clean"]["accuracy"], abs=1 / 256)
    assert results["cpu"]["lipschitz"]["paper_bound"] == pytest.approx(
        results[DEV]["lipschitz"]["paper_bound"], rel=1e-5
    )
    assert results["cpu"]["lipschitz"]["certified_upper_bound"] == pytest.approx(
        results[DEV]["lipschitz"]["certified_upper_bound"], rel=1e-4
    )
