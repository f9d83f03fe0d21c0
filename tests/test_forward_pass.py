"""The one batched forward pass (``robustopt.metrics.forward_outcomes``, issue 22) gives bitwise the numbers of the
four loops it replaced: training's ``accuracy_and_loss``, the ``clean`` and noise evaluations' per-image passes and
``robust_accuracy``'s clean pass (transcribed below as they were)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from robustopt.evaluation import EVALUATIONS, EvalContext, EvalData
from robustopt.metrics import accuracy_and_loss, forward_outcomes


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)
    )
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.2, 0.2)
        model[1].running_var.uniform_(0.5, 1.5)
    return model


def _data(n: int = 70):
    gen = torch.Generator().manual_seed(1)
    x8 = torch.randint(0, 256, (n, 1, 8, 8), generator=gen, dtype=torch.uint8)
    return x8, torch.randint(0, 5, (n,), generator=gen)


@torch.no_grad()
def _old_per_image_pass(model, x, y, batch_size, transform=None):
    """The evaluations' loop before issue 22 (clean._outcomes / noise._outcomes): mask and summed loss."""
    correct, loss_sum = [], torch.zeros((), dtype=torch.float64)
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        if transform is not None:
            xb = transform(xb, start)
        logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum").double()
        correct.append(logits.argmax(1) == yb)
    return torch.cat(correct), loss_sum.item()


def test_the_shared_pass_gives_bitwise_the_old_numbers():
    model, (x8, y) = _model().eval(), _data()
    x = x8.float().div(255)
    shift = lambda xb, start: xb * 0.5 + start / 1000  # noqa: E731 - a transform that depends on the batch
    for inputs, transform in ((x8, None), (x, None), (x, shift)):
        mask, loss_sum = _old_per_image_pass(model, inputs, y, 32, transform)
        res = forward_outcomes(model, inputs, y, batch_size=32, transform=transform)
        assert torch.equal(res.correct, mask) and res.correct.dtype == torch.bool and res.correct.device.type == "cpu"
        assert res.loss_sum == loss_sum and res.n == len(y)
        assert res.accuracy == int(mask.sum()) / len(y) and res.loss == loss_sum / len(y)
        assert accuracy_and_loss(model, inputs, y, batch_size=32, transform=transform) == {
            "accuracy": int(mask.sum()) / len(y),
            "loss": loss_sum / len(y),
            "n": len(y),
        }


def test_eval_mode_is_set_and_restored_or_left_alone():
    model, (x8, y) = _model(), _data()
    model.train()
    in_eval = forward_outcomes(model, x8, y, batch_size=32)
    assert model.training  # restored
    as_is = forward_outcomes(model, x8, y, batch_size=32, eval_mode=False)  # BatchNorm on the batch statistics
    assert model.training
    model.eval()
    assert torch.equal(forward_outcomes(model, x8, y, batch_size=32).correct, in_eval.correct)
    assert as_is.loss_sum != in_eval.loss_sum


def test_the_clean_evaluation_is_the_shared_pass():
    model, (x8, y) = _model().eval(), _data()
    data = EvalData(x8.float().div(255), y, "synthetic")
    res = EVALUATIONS.get("clean")(model, data, {}, EvalContext(batch_size=32))
    mask, loss_sum = _old_per_image_pass(model, data.x, y, 32)
    assert res["accuracy"] == int(mask.sum()) / len(y) and res["loss"] == loss_sum / len(y) and res["n"] == len(y)
