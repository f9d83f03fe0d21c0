"""The paper's constants, in one place: Ma, Pan & Farahmand, *Understanding the robustness difference between
stochastic gradient descent and adaptive gradient methods* (TMLR 2023, arXiv:2308.06703).

Base layer (imports nothing of robustopt): every layer reads the paper's settings from here --

* :data:`EPS_GRIDS`: the attacks' ε grids per data set and norm (``robust_accuracy``; :mod:`robustopt.attacks.grids`);
* :data:`GAUSSIAN_VARIANCES`: the Gaussian-noise variances per data set (the authors' ``test_gaussian``);
* :data:`BAND_NOISE_VARIANCE`: the variance of the white noise projected onto each band (``eval_AA_cluster.py``:
  ``var``);
* :data:`DCT_RADII`: the band radii ``r_list`` of the authors' 10 DCT bands, per image side
  (:func:`robustopt.frequency.masks.paper_bands`);
* :data:`LEARNING_RATES` and :data:`RECIPE`: the training recipe per data set (``conf/experiment/paper_*.yaml`` spell
  the same numbers for Hydra; ``tests/test_config.py`` checks that they agree);
* :func:`reference`: the paper's reported numbers (Figure 1, Figure 2, the band-noise figure, the linear theory), read
  off its figures, each entry saying where it comes from (``paper_reference.json`` beside this module).

Entries marked "not in the paper" are the project's own choices for the synthetic smoke-test data set.
"""

from __future__ import annotations

import json
from pathlib import Path

# -- attacks: ε grids per data set and norm (the paper's robustness tables) --------------------------------------
_CIFAR_LIKE = {"l2": (0.1, 0.2, 0.3), "linf": (1 / 255, 2 / 255, 4 / 255)}
_LARGE_IMAGES = {"l2": (0.5, 1.0, 1.5), "linf": (1 / 255, 2 / 255, 4 / 255)}

EPS_GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "mnist": {"l2": (0.5, 0.7, 1.0), "linf": (0.05, 0.07, 0.1)},
    "fashion_mnist": {"l2": (0.1, 0.5, 0.7), "linf": (0.01, 0.03, 0.05)},
    "cifar10": _CIFAR_LIKE,
    "cifar100": _CIFAR_LIKE,
    "svhn": _CIFAR_LIKE,
    "caltech101": _LARGE_IMAGES,
    "imagenette": _LARGE_IMAGES,
    # Not in the paper: a small grid for the synthetic smoke-test data set.
    "synthetic": {"l2": (0.1, 0.25, 0.5), "linf": (0.01, 0.03, 0.05)},
}

# -- noise -------------------------------------------------------------------------------------------------------
#: Variances of the Gaussian-noise evaluation, per data set (the paper's settings).
GAUSSIAN_VARIANCES: dict[str, tuple[float, ...]] = {
    "mnist": (0.01, 0.05, 0.1),
    "fashion_mnist": (0.001, 0.005, 0.01),
    "cifar10": (0.001, 0.005, 0.007),
    "cifar100": (0.001, 0.005, 0.007),
    "svhn": (0.001, 0.003, 0.005),
    "caltech101": (0.01, 0.05, 0.1),
    "imagenette": (0.01, 0.05, 0.1),
    "synthetic": (0.01, 0.05, 0.1),  # not in the paper: the MNIST grid
}

#: Variance of the white noise projected onto each band (the paper's band-limited-noise figure; the authors'
#: eval_AA_cluster.py: ``var``).
BAND_NOISE_VARIANCE: dict[str, float] = {
    "mnist": 0.1,
    "fashion_mnist": 0.1,
    "cifar10": 0.01,
    "cifar100": 0.01,
    "svhn": 0.1,
    "caltech101": 0.2,
    "imagenette": 0.01,
    "synthetic": 0.1,  # not in the paper
}

# -- bands -------------------------------------------------------------------------------------------------------
#: The band radii ``r_list`` of the authors' code (freq-robust eval_AA_cluster.py, also opt-robust
#: notebook/fig4_band_limited_gaussian.ipynb), copied at full precision, per image side: 10 DCT bands, band k holding
#: the radii r_list[k-1] <= r < r_list[k].
DCT_RADII: dict[int, tuple[float, ...]] = {
    28: (
        9.23556484576784,
        13.429772309525275,
        16.573100530176493,
        19.246660078812468,
        21.650519659173664,
        23.770439869682388,
        25.719176010665375,
        27.52522654685313,
        30.425587675884607,
    ),
    32: (
        10.781431922956449,
        15.301968130724937,
        19.04982421996594,
        22.040185695902814,
        24.75901837969084,
        27.220978213474407,
        29.441362859363448,
        31.57831841836015,
        34.71337554275011,
    ),
    224: (
        79.99591867969022,
        113.48107898359288,
        138.12383764880263,
        159.77959526368392,
        178.8104125616099,
        195.53446412645394,
        211.45609907581306,
        226.35093083884985,
        250.1009872575449,
    ),
}

# -- training ----------------------------------------------------------------------------------------------------
#: The paper's learning rate per data set and optimizer (AdamW: Adam's).
LEARNING_RATES: dict[str, dict[str, float]] = {
    "mnist": {"sgd": 0.1, "adam": 5.0e-4, "rmsprop": 5.0e-4, "adamw": 5.0e-4},
    "fashion_mnist": {"sgd": 0.01, "adam": 5.0e-4, "rmsprop": 5.0e-5, "adamw": 5.0e-4},
    "cifar10": {"sgd": 0.2, "adam": 2.0e-4, "rmsprop": 5.0e-4, "adamw": 2.0e-4},
    "cifar100": {"sgd": 0.3, "adam": 5.0e-4, "rmsprop": 5.0e-4, "adamw": 5.0e-4},
    "svhn": {"sgd": 0.2, "adam": 2.0e-4, "rmsprop": 2.0e-4, "adamw": 2.0e-4},
    "caltech101": {"sgd": 0.05, "adam": 2.0e-4, "rmsprop": 1.0e-3, "adamw": 2.0e-4},
    "imagenette": {"sgd": 0.1, "adam": 2.0e-4, "rmsprop": 2.0e-4, "adamw": 2.0e-4},
}

#: The rest of the paper's recipe, the same for every data set: cross-entropy, no weight decay, MultiStepLR
#: (gamma 0.1) at epochs 100 and 150.
RECIPE = {"epochs": 200, "batch_size": 128, "weight_decay": 0.0, "milestones": (100, 150), "gamma": 0.1}

#: The model the paper trains on each data set.
MODELS: dict[str, str] = {
    "mnist": "c2",
    "fashion_mnist": "c2",
    "cifar10": "preact_resnet18",
    "cifar100": "preact_resnet18",
    "svhn": "preact_resnet18",
    "caltech101": "preact_resnet18",
    "imagenette": "preact_resnet18",
}

# -- the paper's reported numbers ----------------------------------------------------------------------------------
REFERENCE_PATH = Path(__file__).resolve().parent / "paper_reference.json"


def reference(path: str | Path = REFERENCE_PATH) -> dict:
    """The paper's reference numbers shipped in ``paper_reference.json`` (each entry says where it comes from)."""
    with open(path) as fh:
        return json.load(fh)


def figure1(path: str | Path = REFERENCE_PATH) -> dict[str, dict]:
    """``{dataset: {quantity: {optimizer: percent}, "source": ..., ...}}`` of the paper's Figure 1."""
    return reference(path).get("figure1", {})
