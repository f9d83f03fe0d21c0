"""``robustopt.evaluate``: the notebook front door, used as a notebook would (one call, plain tensors, no files)."""

from __future__ import annotations

import pytest
import torch

import robustopt
from robustopt.attacks import default_eps_grid
from robustopt.data.sets.synthetic import make_synthetic, prototypes
from robustopt.errors import ConfigError
from robustopt.evaluation.noise import BAND_NOISE_VARIANCE

FAST_PGD = {
    "attacks": [{"name": "fgsm", "norm": "linf"}, {"name": "pgd", "norm": "linf", "steps": 3}],
    "large_eps_steps": 2,
}


@pytest.fixture(scope="module")
def model():
    """A notebook's model for the synthetic set, without training: the nearest class prototype as a linear
    classifier (logit_k = 2 x.p_k - |p_k|^2, i.e. minus the squared distance up to a constant)."""
    protos = prototypes().flatten(1)
    linear = torch.nn.Linear(protos.shape[1], protos.shape[0])
    with torch.no_grad():
        linear.weight.copy_(2 * protos)
        linear.bias.copy_(-(protos**2).sum(1))
    return torch.nn.Sequential(torch.nn.Flatten(), linear)


def test_one_call_evaluates_a_model(model, tmp_path, one_torch_thread):
    model.train()  # a notebook's model may be in train mode: it is evaluated in eval mode and left as it was
    rng = torch.get_rng_state()
    results = robustopt.evaluate(
        model,
        dataset="synthetic",
        evaluations=["clean", "robust_accuracy", "band_noise"],
        n_examples=100,
        root=str(tmp_path),
        options={"robust_accuracy": FAST_PGD},
    )
    assert list(results) == ["clean", "robust_accuracy", "band_noise"]
    assert model.training and next(model.parameters()).device.type == "cpu"
    assert torch.equal(torch.get_rng_state(), rng), "the global RNG must be left alone"
    assert not any(tmp_path.iterdir()), "nothing is written"

    # clean accuracy on the first 100 test images, computed here independently
    x, y = make_synthetic("test")
    model.eval()
    with torch.no_grad():
        expected = (model(x[:100].float() / 255).argmax(1) == y[:100]).float().mean().item()
    model.train()
    assert results["clean"]["n"] == 100 and results["clean"]["accuracy"] == pytest.approx(expected)
    assert expected > 0.9, "the nearest-prototype classifier is right on the synthetic images"

    ra = results["robust_accuracy"]
    assert ra["n"] == 100 and ra["clean_accuracy"] == pytest.approx(expected)
    assert ra["attacks"]["pgd-linf"]["eps"] == default_eps_grid("synthetic", "linf")  # the data set's own grid
    for label in ("fgsm-linf", "pgd-linf"):
        assert all(a <= expected for a in ra["attacks"][label]["robust_accuracy"])
    assert results["band_noise"]["variance"] == BAND_NOISE_VARIANCE["synthetic"]
    assert results["band_noise"]["clean_accuracy"] == pytest.approx(expected)
    assert all("seconds" in r for r in results.values())


def test_tensors_instead_of_a_name_give_the_same_numbers(model, one_torch_thread):
    x, y = make_synthetic("test")
    by_name = robustopt.evaluate(
        model,
        dataset="synthetic",
        evaluations=["clean", "gaussian_noise"],
        n_examples=50,
        options={"gaussian_noise": {"variances": [0.01, 0.1]}},
    )
    by_tensors = robustopt.evaluate(
        model,
        dataset=(x[:80], y[:80]),
        evaluations=["clean", "gaussian_noise"],
        n_examples=50,
        options={"gaussian_noise": {"variances": [0.01, 0.1]}},
    )
    for name in ("clean", "gaussian_noise"):
        a = {k: v for k, v in by_name[name].items() if k != "seconds"}
        b = {k: v for k, v in by_tensors[name].items() if k != "seconds"}
        assert a == b, name


def test_mistakes_fail_before_any_work(model):
    with pytest.raises(ConfigError, match="unknown evaluation 'robust_acuracy'.*Did you mean 'robust_accuracy'"):
        robustopt.evaluate(model, dataset="no_such_set", evaluations=["robust_acuracy"])
    with pytest.raises(ConfigError, match="options given for evaluation\\(s\\) band_noise that are not run"):
        robustopt.evaluate(model, dataset="synthetic", evaluations=["clean"], options={"band_noise": {"variance": 0.1}})
    with pytest.raises(
        ConfigError, match="evaluation 'clean' has no option\\(s\\) n_sample; its options are: n_samples"
    ):
        robustopt.evaluate(model, dataset="synthetic", evaluations=["clean"], options={"clean": {"n_sample": 5}})
    with pytest.raises(ConfigError, match="unknown dataset 'no_such_set'"):
        robustopt.evaluate(model, dataset="no_such_set", evaluations=["clean"])
