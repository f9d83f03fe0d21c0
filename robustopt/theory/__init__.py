"""The linear least-squares theory of Ma, Pan & Farahmand (TMLR 2023, arXiv:2308.06703), executable.

On linear regression whose inputs have frequencies with zero (or tiny) variance, GD never moves
the weights along those irrelevant frequencies, while sign-based updates (signGD, and Adam /
RMSprop that behave like it) do; both reach about zero standard risk, but the adaptive solution
has a larger weight norm and so a larger adversarial risk under L2 perturbations.

Public API::

    from robustopt.theory import FrequencyLinearModel, simulate, standard_risk, adversarial_risk
    res = simulate(FrequencyLinearModel.paper(), optimizers=("gd", "signgd"), n_steps=200_001)
    res.final([2 ** 0.5])
"""

from robustopt.theory.data_model import (
    PAPER_BATCH_SIZE,
    PAPER_LR,
    PAPER_SIGMA_TILDE,
    PAPER_STEPS,
    PAPER_W0_TILDE,
    PAPER_W_STAR_TILDE,
    FrequencyLinearModel,
)
from robustopt.theory.dct import dct_matrix, to_frequency, to_pixel
from robustopt.theory.gradients import DatasetGradient, PopulationGradient, SampledGradient, make_oracle
from robustopt.theory.optimizers import THEORY_OPTIMIZERS, torch_runner
from robustopt.theory.risks import adversarial_risk, gd_closed_form, gd_limit, residual_variance, standard_risk
from robustopt.theory.simulate import SimulationResult, record_steps, simulate
from robustopt.theory.surface import risk_ratio_surface

__all__ = [
    "PAPER_BATCH_SIZE",
    "PAPER_LR",
    "PAPER_SIGMA_TILDE",
    "PAPER_STEPS",
    "PAPER_W0_TILDE",
    "PAPER_W_STAR_TILDE",
    "THEORY_OPTIMIZERS",
    "DatasetGradient",
    "FrequencyLinearModel",
    "PopulationGradient",
    "SampledGradient",
    "SimulationResult",
    "adversarial_risk",
    "dct_matrix",
    "gd_closed_form",
    "gd_limit",
    "make_oracle",
    "record_steps",
    "residual_variance",
    "risk_ratio_surface",
    "simulate",
    "standard_risk",
    "to_frequency",
    "to_pixel",
    "torch_runner",
]
