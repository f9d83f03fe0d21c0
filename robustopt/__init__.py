"""robustopt: how does the optimizer a model was trained with change its robustness?

A research toolkit around Ma, Pan & Farahmand, "Understanding the robustness difference between
stochastic gradient descent and adaptive gradient methods" (TMLR 2023, arXiv:2308.06703).
"""

__version__ = "0.1.0"
