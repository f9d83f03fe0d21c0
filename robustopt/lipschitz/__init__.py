"""Lipschitz constants of networks: exact per-layer operator norms, certified upper bounds, empirical lower bounds.

Reference: Table 1 of Ma, Pan & Farahmand (TMLR 2023) compares products of per-layer Lipschitz
constants of networks trained with SGD, Adam and RMSprop.  The authors' code takes, for a conv, the
largest singular value of the reshaped kernel (some viewed as ``(C_in, -1)``) and counts pooling as 1;
:func:`paper_bound` reproduces exactly that number (for ``c2`` and ``preact_resnet18``), which is not a
Lipschitz bound.  The project's own quantities sit beside it: the per-layer operator norms (``norm``),
their composition, and a certified upper bound (``upper``).

Public API::

    from robustopt.lipschitz import layer_spectral_norms, upper_bound, lower_bound, network_bound, paper_bound

    norms = layer_spectral_norms(model, (3, 32, 32))   # {module name: operator norm}
    ub = upper_bound(model, (3, 32, 32))               # certified
    lb = lower_bound(model, x_test[:64]).value         # empirical, <= the true constant
    pb = paper_bound(model)                            # the paper's Table 1 quantity (authors' code)

Extend it for new layer types with :func:`register_rule` (and :func:`register_function_rule`).
"""

from robustopt.lipschitz.conv import (
    ConvGeometry,
    ConvNorms,
    certified_upper_bound,
    circular_singular_values,
    conv_norms,
    conv_operator,
    gram_iteration_bound,
    reshaped_kernel_norm,
)
from robustopt.lipschitz.network import (
    LowerBound,
    NetworkBound,
    layer_bounds,
    layer_spectral_norms,
    lower_bound,
    network_bound,
    upper_bound,
)
from robustopt.lipschitz.operators import TensorOperator, dense_norm, lanczos_norm, power_iteration_norm
from robustopt.lipschitz.paper import PaperBound, paper_bound, paper_bound_details
from robustopt.lipschitz.rules import (
    FUNCTION_RULES,
    MODULE_RULES,
    LayerBound,
    OpCall,
    RuleContext,
    register_function_rule,
    register_rule,
)

__all__ = [
    "FUNCTION_RULES",
    "MODULE_RULES",
    "ConvGeometry",
    "ConvNorms",
    "LayerBound",
    "LowerBound",
    "NetworkBound",
    "OpCall",
    "PaperBound",
    "RuleContext",
    "TensorOperator",
    "certified_upper_bound",
    "circular_singular_values",
    "conv_norms",
    "conv_operator",
    "dense_norm",
    "gram_iteration_bound",
    "lanczos_norm",
    "layer_bounds",
    "layer_spectral_norms",
    "lower_bound",
    "network_bound",
    "paper_bound",
    "paper_bound_details",
    "power_iteration_norm",
    "register_function_rule",
    "register_rule",
    "reshaped_kernel_norm",
    "upper_bound",
]
