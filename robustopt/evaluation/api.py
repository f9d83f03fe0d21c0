"""The notebook front door: evaluate any model in one call, like RobustBench's ``benchmark``.

    import robustopt
    results = robustopt.evaluate(model, dataset="fashion_mnist", evaluations=["clean", "robust_accuracy", "band_noise"],
                                 n_examples=1000)
    results["robust_accuracy"]["attacks"]["pgd-linf"]["robust_accuracy"]   # one value per eps of the paper's grid

It runs the same registered evaluations (:data:`~robustopt.evaluation.registry.EVALUATIONS`, plugins included)
with the same code as ``experiments/evaluate.py`` (:func:`run_evaluations`), on plain tensors, and writes
nothing.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from robustopt.data import load_split_uint8
from robustopt.data.cache import check_data_root
from robustopt.devices import resolve_device, torch_threads
from robustopt.errors import ConfigError, DataError
from robustopt.evaluation.registry import EVALUATIONS, EvalContext, EvalData

DEFAULT_EVALUATIONS = ("clean", "robust_accuracy", "band_noise")


def check_eval_data(model: nn.Module, data: EvalData) -> None:
    """DataError (naming the problem) when the images hold NaN / infinite pixels or leave [0, 1], or a label is
    not one of the model's classes (counted with one forward pass of one image)."""
    x, y = data.x, data.y
    if not len(data):
        return
    if x.is_floating_point():
        finite = torch.isfinite(x)
        if not finite.all():
            raise DataError(
                f"the test images hold {int((~finite).sum())} NaN or infinite pixel values; evaluate finite "
                "images in [0, 1] (check how they were loaded or preprocessed)"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(
                "the test images must be in [0, 1] (normalisation belongs inside the model), got values in "
                f"[{lo:.3g}, {hi:.3g}]"
            )
    if y.is_floating_point():
        raise DataError(f"labels must be integer class indices, got dtype {y.dtype}")
    param = next(model.parameters(), None)
    with torch.no_grad():
        first = x[:1].float() / 255 if x.dtype == torch.uint8 else x[:1]
        num_classes = int(model(first.to(param.device if param is not None else first.device)).shape[-1])
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise DataError(
            f"label {bad} is out of range: the model has {num_classes} classes, so labels must be in "
            f"0..{num_classes - 1}; check that the labels belong to this model's data set"
        )


def run_evaluations(
    model: nn.Module,
    data: EvalData,
    evaluations: Iterable[str],
    options: Optional[Mapping] = None,
    ctx: Optional[EvalContext] = None,
    on_result: Optional[Callable[[str, dict], None]] = None,
) -> dict[str, dict]:
    """Run each named evaluation on ``model`` (in eval mode, restored afterwards) and return ``{name: result}``.

    ``options[name]`` are that evaluation's options; each result gets ``seconds`` (its run time) unless it has
    one; ``on_result(name, result)`` is called after each evaluation (the run pipeline stores it at once).
    Unknown evaluation names fail before any work.
    """
    ctx = ctx or EvalContext()
    options = dict(options or {})
    fns = {name: EVALUATIONS.get(name) for name in evaluations}
    results: dict[str, dict] = {}
    was_training = model.training
    model.eval()
    try:
        check_eval_data(model, data)
        for name, fn in fns.items():
            opts = options.get(name) or {}
            if not isinstance(opts, Mapping):
                raise ConfigError(f"eval.{name} must be a mapping of options, got {opts!r}")
            t0 = time.perf_counter()
            result = dict(fn(model, data, dict(opts), ctx))
            result.setdefault("seconds", round(time.perf_counter() - t0, 3))
            if on_result is not None:
                on_result(name, result)
            results[name] = result
    finally:
        model.train(was_training)
    return results


def default_data_root() -> str:
    """Where the CLI reads data sets from by default (``paths.data_dir``): ``$ROBUSTOPT_DATA_DIR``, else ``data``."""
    return os.environ.get("ROBUSTOPT_DATA_DIR") or "data"


def _data(dataset, root: Optional[str], n_examples: Optional[int]) -> EvalData:
    if isinstance(dataset, EvalData):
        data = dataset
    elif isinstance(dataset, str):
        root = root or default_data_root()
        check_data_root(
            root,
            dataset,
            option="root=",
            create_hint=(
                "create that folder first (the data set's files and cache are then written there, as by the CLI)"
            ),
        )
        x, y = load_split_uint8(dataset, root, "test")
        n = x.shape[0] if n_examples is None else min(int(n_examples), x.shape[0])
        return EvalData(x[:n].float().div_(255), y[:n], dataset)
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        x, y = dataset
        data = EvalData(x.float().div(255) if x.dtype == torch.uint8 else x, y)
    else:
        raise ConfigError(
            "dataset must be a data-set name (e.g. 'fashion_mnist'), an (images, labels) pair or EvalData, got "
            f"{type(dataset).__name__}"
        )
    return data.subset(n_examples)


def evaluate(
    model: nn.Module,
    dataset: Union[str, tuple, EvalData] = "fashion_mnist",
    evaluations: Sequence[str] = DEFAULT_EVALUATIONS,
    n_examples: Optional[int] = 1000,
    device: Union[str, torch.device] = "auto",
    root: Optional[str] = None,
    options: Optional[Mapping[str, Mapping]] = None,
    seed: int = 0,
    *,
    batch_size: int = 1024,
    progress: bool = False,
    num_threads: Union[int, str, None] = "auto",
) -> dict[str, dict]:
    """Evaluate ``model`` on the first ``n_examples`` test images of ``dataset``; ``{evaluation: result}``.

    Args:
        model: a classifier taking images ``(N, C, H, W)`` in [0, 1] (normalisation inside the model).
        dataset: a registered data-set name (its test split is read from ``root``, as ``load_dataset``), or the
            test images and labels themselves, ``(x, y)`` (x float in [0, 1] or uint8).  The name also picks
            the paper's per-data-set settings (eps grids, noise variances); with tensors, set them in ``options``.
        evaluations: registered evaluation names (``clean``, ``robust_accuracy``, ``gaussian_noise``,
            ``band_noise``, ``fourier_heatmap``, ``lipschitz``, or your own).
        n_examples: the first N test images (None: all); every evaluation sees the same images.
        device: ``auto`` (CUDA when available) | ``cpu`` | ``cuda``.
        options: ``{evaluation: {option: value}}``, e.g. ``{"robust_accuracy": {"attacks": [{"name": "pgd",
            "norm": "linf", "steps": 20}]}}``; the defaults are the evaluations' own (``conf/eval/``).
        seed: seeds every random draw (random starts, noise); the global RNG is never touched.
        root: the folder holding the data set named by ``dataset``; None: where the CLI looks
            (``$ROBUSTOPT_DATA_DIR``, else ``data``).  A folder that does not exist is an error naming the fix;
            nothing is created.
        num_threads: torch CPU threads for this call (restored afterwards): ``auto`` (the cores this process really
            has, as the CLI: :func:`robustopt.devices.default_num_threads`), N, or None (torch's setting).

    The model is left as it was found (its device and train/eval mode).  Nothing is written to disk, except that a
    data set read by name for the first time is unpacked and cached in its (existing) ``root``, as by the CLI.
    """
    evaluations = list(evaluations)
    stray = sorted(set(options or {}) - set(evaluations))
    if stray:
        raise ConfigError(
            f"options given for evaluation(s) {', '.join(stray)} that are not run; the evaluations are: "
            f"{', '.join(evaluations)}"
        )
    for name in evaluations:  # unknown names fail before the data are read
        EVALUATIONS.get(name)
    dev = resolve_device(device)
    data = _data(dataset, root, n_examples)
    data = EvalData(data.x.to(dev), data.y.to(dev), data.dataset)
    param = next(model.parameters(), None)
    home = param.device if param is not None else None
    model.to(dev)
    try:
        ctx = EvalContext(device=dev, batch_size=int(batch_size), seed=int(seed), progress=progress)
        with torch_threads(num_threads):
            return run_evaluations(model, data, evaluations, options, ctx)
    finally:
        if home is not None:
            model.to(home)
