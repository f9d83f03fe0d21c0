"""robustopt: how does the optimizer a model was trained with change its robustness?

A research toolkit around Ma, Pan & Farahmand, "Understanding the robustness difference between
stochastic gradient descent and adaptive gradient methods" (TMLR 2023, arXiv:2308.06703).

The front door for notebooks is one call (:func:`robustopt.evaluation.evaluate`)::

    import robustopt
    results = robustopt.evaluate(model, dataset="fashion_mnist", evaluations=["clean", "robust_accuracy", "band_noise"])

and :func:`robustopt.load_run` gives the model of any trained run folder, shipped ones included::

    model = robustopt.load_run("results/fashion_mnist/runs/<run>")

Everything else lives in the subpackages, in layers that import only downwards: the base (``errors``,
``registry``, ``io``, ``bits``, ``stats``, ``checkpoint``, ``devices``, ``metrics``, ``logger``, ``meta``,
``rundir``), the building blocks (``data``, ``models``, ``optim``, ``attacks``, ``frequency``, ``lipschitz``,
``theory``), ``runs``, ``train`` and ``evaluation``, the reporting (``tracking``) and the Hydra boundary (``cli``).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "load_run"]


def __getattr__(name: str):
    # ``robustopt.evaluate`` is imported on first use, so that ``import robustopt.errors`` (or any base module)
    # does not pull in every evaluation, the attacks and their dependencies.
    if name == "evaluate":
        from robustopt.evaluation.api import evaluate

        return evaluate
    if name == "load_run":  # a trained or shipped run's model: robustopt.load_run("results/fashion_mnist/runs/<run>")
        from robustopt.runs import load_run

        return load_run
    raise AttributeError(f"module 'robustopt' has no attribute '{name}'")
