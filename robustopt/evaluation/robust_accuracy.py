"""The ``robust_accuracy`` evaluation: accuracy under each configured attack over an eps grid.

Options (``conf/eval/robust_accuracy.yaml``; all optional):

- ``attacks``: list of attack specs, e.g. ``{name: pgd, norm: l2, steps: 100}``; a spec names a
  registered attack (``name``, with ``module`` = a module or ``.py`` file to import first) or an
  import path (``_target_``); ``norm`` picks the eps grid; ``eps`` (null = the grid) may be a
  number or a list; ``label`` names the curve; every other key is passed to the attack's factory
  together with ``eps``, ``norm`` and (when it takes one) ``seed``.
- ``attack``: one spec (e.g. from ``conf/attack/<name>.yaml`` via ``attack=<name>``) that
  replaces ``attacks`` when set.
- ``eps``: ``{linf: [...], l2: [...]}``; an empty/null grid means the paper's grid for the data
  set (:data:`robustopt.attacks.PAPER_EPS_GRIDS`).
- ``n_samples`` (default 1000: the first test images), ``batch_size`` / ``seed`` (default: the
  context's), ``plugins`` (modules or ``.py`` files to import first), ``sanity`` (default true),
  ``large_eps_steps`` (10) and ``large_eps_max_accuracy`` (0.02).

The evaluated images are the first ``n`` = ``n_samples`` test images; every number below is over
exactly those images.  Only images that the model classifies correctly are attacked; the others
count as wrong under every attack, as in the authors' ``test_AA`` (accuracy over all 1000 images).
Every adversarial batch is checked to lie in its eps-ball and in [0, 1].

Result (``summary["eval"]["robust_accuracy"]``):

- ``dataset``, ``n`` (number of evaluated images), ``seconds``;
- ``clean_accuracy``: accuracy on the ``n`` images;
- ``clean_correct``: which of them are classified correctly, a mask string from
  :func:`robustopt.bits.encode_mask` (``decode_mask`` gives a bool array of length ``n``);
- ``attacks[label]``: one curve per attack spec with ``name``, ``norm``, ``options``, ``eps`` (sorted
  list), ``robust_accuracy`` (one value per eps: correct under attack over all ``n`` images),
  ``correct`` (one mask string per eps, aligned with ``eps``: which images stay correct under the
  attack; always a subset of ``clean_correct``) and ``seconds``;
- ``sanity`` (when enabled): flags in the spirit of AutoAttack's checks, each a *possible
  gradient-masking* warning when violated: robust accuracy non-increasing in eps
  (``monotone_in_eps``), PGD not weaker than FGSM (``pgd_not_weaker_than_fgsm``), AutoAttack not
  weaker than PGD at the same eps and norm (``autoattack_not_weaker_than_pgd``; a stronger attack
  must not do worse on the same images), a huge eps driving accuracy to ~0 (``large_eps_to_zero``).
  A comparison flag is ``None`` (JSON null) when nothing was compared -- one of its two attacks did not run,
  or they share no eps and norm -- never ``true`` about an attack that did not run.  Violations are listed in
  ``sanity["warnings"]`` and emitted with :func:`warnings.warn`.

The masks make paired comparisons possible (McNemar's test between two runs or two attacks on the
same images) and keep every accuracy of a figure on the same images.
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import torch
from torch import nn
from tqdm.auto import tqdm

from robustopt.attacks import Attack, build_attack, default_eps_grid, get_threat_model
from robustopt.attacks.registry import resolve_factory
from robustopt.bits import encode_mask
from robustopt.errors import ConfigError
from robustopt.evaluation.merge import keep_replaced
from robustopt.evaluation.registry import EvalContext, EvalData, evaluation_options, register_evaluation
from robustopt.metrics import forward_outcomes
from robustopt.registry import load_plugins

DEFAULT_ATTACKS: tuple[dict, ...] = (
    {"name": "fgsm", "norm": "linf"},
    {"name": "pgd", "norm": "linf", "steps": 100},
    {"name": "fgsm", "norm": "l2"},
    {"name": "pgd", "norm": "l2", "steps": 100},
)

DEFAULTS: dict[str, Any] = {
    "n_samples": 1000,
    "batch_size": None,
    "seed": None,
    "eps": {"linf": None, "l2": None},
    "attacks": [dict(a) for a in DEFAULT_ATTACKS],
    "attack": None,
    "plugins": [],
    "sanity": True,
    "large_eps_steps": 10,
    "large_eps_max_accuracy": 0.02,
}

# Tolerance of the eps-ball check: relative to eps plus an absolute float slack.
_BALL_RTOL, _BALL_ATOL = 1e-5, 1e-6


def _spec_label(spec: Mapping, norm: str) -> str:
    if spec.get("label"):
        return str(spec["label"])
    base = spec.get("name") or str(spec.get("_target_", "attack")).replace(":", ".").rsplit(".", 1)[-1]
    return f"{base}-{norm}"


def _eps_list(spec: Mapping, norm: str, grids: Mapping, dataset: str) -> list[float]:
    eps = spec.get("eps")
    if eps is None or (isinstance(eps, (list, tuple)) and len(eps) == 0):
        eps = grids.get(norm)
    if eps is None or (isinstance(eps, (list, tuple)) and len(eps) == 0):
        if not dataset:
            raise ConfigError(
                f"no eps grid for norm '{norm}' and the data set is unknown; set eval.robust_accuracy.eps.{norm}=[...]"
            )
        eps = default_eps_grid(dataset, norm)
    values = [eps] if isinstance(eps, (int, float)) else list(eps)
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0 or math.isnan(v):
            raise ConfigError(f"eps values must be numbers >= 0, got {v!r} for norm '{norm}'")
    return sorted(float(v) for v in values)


def _accepts(factory, name: str) -> bool:
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _prepared_specs(opts: dict, dataset: str) -> list[dict]:
    raw = [opts["attack"]] if opts["attack"] else (opts["attacks"] if opts["attacks"] is not None else DEFAULT_ATTACKS)
    if isinstance(raw, Mapping):
        raw = [raw]
    grids = {get_threat_model(k).name: v for k, v in dict(opts["eps"] or {}).items()}
    specs, seen = [], set()
    for i, spec in enumerate(raw):
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, Mapping):
            raise ConfigError(f"attack spec #{i} must be a mapping like {{name: pgd, norm: linf}}, got {spec!r}")
        spec = dict(spec)
        norm = get_threat_model(spec.get("norm") or "linf").name
        label = _spec_label(spec, norm)
        while label in seen:
            label = f"{label}#{i}"
        seen.add(label)
        factory = resolve_factory(spec)  # fail early on unknown names / imports
        spec.update(norm=norm, label=label)
        specs.append({"spec": spec, "eps": _eps_list(spec, norm, grids, dataset), "factory": factory})
    return specs


def check_robust_accuracy_options(opts: dict, dataset: str) -> None:
    """The registered check of ``robust_accuracy``'s options (merged with :data:`DEFAULTS`): its plugins import, its
    attacks resolve, its eps grids are numbers >= 0 (or the data set has the paper's grid), without running
    anything, so that an entry point refuses a bad attack spec before training."""
    load_plugins(opts["plugins"])
    _prepared_specs(opts, dataset)


def _check_ball(label: str, norm: str, eps: float, x: torch.Tensor, x_adv: torch.Tensor) -> None:
    if x_adv.shape != x.shape:
        raise ConfigError(
            f"attack '{label}' returned shape {tuple(x_adv.shape)} for inputs {tuple(x.shape)}; it must return one "
            "image per input"
        )
    dist = get_threat_model(norm).distance(x_adv.float(), x.float())
    worst = dist.max().item() if dist.numel() else 0.0
    if worst > eps * (1 + _BALL_RTOL) + _BALL_ATOL or not math.isfinite(worst):
        raise ConfigError(
            f"attack '{label}' returned images outside its {norm} eps-ball (distance {worst:.6g} > eps {eps:.6g}); "
            "it must project onto the ball"
        )
    if x_adv.numel() and (x_adv.min() < 0 or x_adv.max() > 1):
        raise ConfigError(f"attack '{label}' returned pixel values outside [0, 1]; it must clip its output")


@dataclass
class _Images:
    """The evaluated images (in [0, 1], or uint8), their labels, which of them the model classifies correctly
    (bool, CPU), and how they are batched onto the device."""

    x: torch.Tensor
    y: torch.Tensor
    batch_size: int
    device: torch.device
    correct: Optional[torch.Tensor] = None

    def batches(self, indices: torch.Tensor):
        """``(indices, images, labels)`` batches of the images at ``indices``, on the device."""
        for start in range(0, indices.numel(), self.batch_size):
            idx = indices[start : start + self.batch_size]
            xb = self.x[idx].to(self.device, non_blocking=True)
            if xb.dtype == torch.uint8:
                xb = xb.float().div_(255)
            yield idx, xb, self.y[idx].to(self.device, non_blocking=True)


def _robust_mask(
    model,
    attack,
    images: _Images,
    *,
    label: str,
    norm: str,
    eps: float,
    generator: Optional[torch.Generator] = None,
    bar=None,
) -> torch.Tensor:
    """Which images stay correctly classified under ``attack`` at ``eps`` (only correct ones are attacked);
    every adversarial batch is checked against its eps-ball and [0, 1]."""
    robust = images.correct.clone()
    for idx, xb, yb in images.batches(torch.nonzero(images.correct).flatten()):
        if isinstance(attack, Attack):
            x_adv = attack(model, xb, yb, generator=generator)
        else:
            x_adv = attack(model, xb, yb)
        _check_ball(label, norm, eps, xb, x_adv)
        with torch.no_grad():
            robust[idx] = (model(x_adv).argmax(1) == yb).cpu()
        if bar is not None:
            bar.update(1)
    return robust


# Every (attack spec, eps) pair draws its random starts from its own generator, seeded by
# ``seed + ATTACK_SEED_STRIDE * spec_index + eps_index``: fixed by the evaluation's seed alone, and distinct for
# every pair as long as a grid holds fewer than ATTACK_SEED_STRIDE eps values (7919, a prime, is only a spacing).
ATTACK_SEED_STRIDE = 7919


def attack_seed(seed: int, spec_index: int, eps_index: int) -> int:
    """The seed of the random starts of attack spec ``spec_index`` at its ``eps_index``-th eps."""
    return int(seed) + ATTACK_SEED_STRIDE * int(spec_index) + int(eps_index)


# (weaker, stronger) attack names: at the same eps and norm, the stronger must not leave more images correct.
STRENGTH_ORDER: tuple[tuple[str, str], ...] = (("fgsm", "pgd"), ("pgd", "autoattack"))


def _not_weaker(curves: dict, weak: str, strong: str, warn_list: list[str]) -> bool | None:
    """False (and a warning per case) where a ``strong`` curve is above a ``weak`` one at a shared eps and norm;
    None when nothing was compared (one of the two attacks did not run, or they share no eps and norm), so that a
    flag never reads true about an attack that did not run."""
    ok = True
    compared = False
    for label, c in curves.items():
        if c["name"] != strong:
            continue
        for other_label, f in curves.items():
            if f["name"] != weak or f["norm"] != c["norm"]:
                continue
            weak_at = dict(zip(f["eps"], f["robust_accuracy"]))
            for e, acc in zip(c["eps"], c["robust_accuracy"]):
                compared = compared or e in weak_at
                if e in weak_at and acc > weak_at[e]:
                    ok = False
                    warn_list.append(
                        f"{label} is weaker than {other_label} at eps={e:g} ({acc:.4f} > {weak_at[e]:.4f}; possible "
                        "gradient masking)"
                    )
    return ok if compared else None


def _sanity(curves: dict, large: dict, max_acc: float) -> dict:
    warn_list: list[str] = []
    monotone = True
    for label, c in curves.items():
        accs = c["robust_accuracy"]
        for i in range(1, len(accs)):
            if accs[i] > accs[i - 1]:
                monotone = False
                warn_list.append(
                    f"{label}: robust accuracy rises from {accs[i - 1]:.4f} at eps={c['eps'][i - 1]:g} to "
                    f"{accs[i]:.4f} at eps={c['eps'][i]:g} (possible gradient masking)"
                )
    order = {
        f"{strong}_not_weaker_than_{weak}": _not_weaker(curves, weak, strong, warn_list)
        for weak, strong in STRENGTH_ORDER
    }
    zero_ok = True
    for norm, r in large.items():
        if r["robust_accuracy"] > max_acc:
            zero_ok = False
            warn_list.append(
                f"PGD-{norm} with a huge eps={r['eps']:g} leaves robust accuracy {r['robust_accuracy']:.4f} > "
                f"{max_acc:g} (possible gradient masking)"
            )
    return {
        "ok": not warn_list,
        "monotone_in_eps": monotone,
        **order,
        "large_eps_to_zero": zero_ok,
        "large_eps": large,
        "warnings": warn_list,
    }


def results_table(result: Mapping) -> tuple[list[str], list[list]]:
    """``(columns, rows)`` of a robust_accuracy result: one row per (attack, eps)."""
    columns = ["attack", "name", "norm", "eps", "robust_accuracy", "clean_accuracy"]
    rows = []
    for label, c in result["attacks"].items():
        for e, acc in zip(c["eps"], c["robust_accuracy"]):
            rows.append([label, c["name"], c["norm"], e, acc, result["clean_accuracy"]])
    return columns, rows


def side_by_side(results: Mapping[str, Mapping]) -> str:
    """A text table of several runs' robust_accuracy results (e.g. ``{"sgd": r1, "adam": r2}``):
    one row per (attack, eps), one column per run, clean accuracy first."""
    names = list(results)
    rows: dict[tuple, dict] = {("clean", "", ""): {k: r["clean_accuracy"] for k, r in results.items()}}
    for run, r in results.items():
        for label, c in r["attacks"].items():
            for e, acc in zip(c["eps"], c["robust_accuracy"]):
                on_255 = c["norm"] == "linf" and 0 < e < 1 and abs(e * 255 - round(e * 255)) < 1e-6
                eps_text = f"{round(e * 255)}/255" if on_255 else f"{e:g}"
                rows.setdefault((label, c["norm"], eps_text), {})[run] = acc
    width = max([len(n) for n in names] + [6])
    first = max([len(label) for label, _, _ in rows] + [len("attack")])  # a plugin's label may be long
    head = f"{'attack':<{first}} {'eps':>9}  " + "  ".join(f"{n:>{width}}" for n in names)
    lines = [head, "-" * len(head)]
    for (label, _norm, eps_text), accs in rows.items():
        cells = "  ".join(f"{accs[n]:>{width}.4f}" if n in accs else f"{'-':>{width}}" for n in names)
        lines.append(f"{label:<{first}} {eps_text:>9}  {cells}")
    return "\n".join(lines)


def robust_accuracy_figure(result: Mapping):
    """A matplotlib Figure: robust accuracy vs eps, one panel per norm, one line per attack."""
    from matplotlib.figure import Figure

    norms = sorted({c["norm"] for c in result["attacks"].values()})
    fig = Figure(figsize=(4.5 * max(len(norms), 1), 3.5), layout="constrained")
    axes = fig.subplots(1, max(len(norms), 1), squeeze=False)[0]
    for ax, norm in zip(axes, norms):
        for label, c in result["attacks"].items():
            if c["norm"] == norm:
                ax.plot([0.0] + c["eps"], [result["clean_accuracy"]] + c["robust_accuracy"], marker="o", label=label)
        ax.set_xlabel(f"eps ({norm})")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"robust accuracy vs eps ({result.get('dataset') or 'data'}, n={result['n']})")
    return fig


def _large_eps(norm: str, x: torch.Tensor) -> float:
    return 1.0 if norm == "linf" else float(math.sqrt(x[0].numel()))


def _merge_curve(old: dict, new: dict) -> dict:
    """One attack's curve: eps points of both, the new value at an eps both hold; masks aligned with eps."""
    points = {}
    for curve in (old, new):
        masks = curve.get("correct") or [None] * len(curve["eps"])
        for e, acc, mask in zip(curve["eps"], curve["robust_accuracy"], masks):
            points[float(e)] = (acc, mask)
    eps = sorted(points)
    out = {**new, "eps": eps, "robust_accuracy": [points[e][0] for e in eps]}
    if "correct" in old or "correct" in new:
        out["correct"] = [points[e][1] for e in eps]
    out["seconds"] = float(old.get("seconds") or 0) + float(new.get("seconds") or 0)
    return out


def _same_attack(old: dict, new: dict) -> bool:
    return all(old.get(k) == new.get(k) for k in ("name", "norm", "options"))


def merge_robust_accuracy(old: dict, new: dict, max_accuracy: Optional[float] = None) -> tuple[dict, str]:
    """``(merged, note)``: ``new`` with ``old``'s curves and eps points that it does not hold itself (same images
    only; else ``new`` as it is).  ``note`` says what happened, for the log ('' when nothing was kept)."""
    if (old.get("dataset"), old.get("n")) != (new.get("dataset"), new.get("n")):
        return new, (
            f"replacing the stored robust_accuracy (n={old.get('n')} images of {old.get('dataset')!r}) by one on "
            f"other images (n={new.get('n')} of {new.get('dataset')!r}); accuracies over different images are not "
            "merged"
        )
    curves = {label: copy.deepcopy(c) for label, c in (old.get("attacks") or {}).items()}
    kept, replaced = [label for label in curves if label not in new.get("attacks", {})], []
    for label, curve in (new.get("attacks") or {}).items():
        if label in curves and _same_attack(curves[label], curve):
            curves[label] = _merge_curve(curves[label], curve)
        else:
            if label in curves:
                replaced.append(label)
            curves[label] = copy.deepcopy(curve)
    merged = {**new, "attacks": curves}
    if "sanity" in new or "sanity" in old:
        large = {
            **((old.get("sanity") or {}).get("large_eps") or {}),
            **((new.get("sanity") or {}).get("large_eps") or {}),
        }
        limit = DEFAULTS["large_eps_max_accuracy"] if max_accuracy is None else float(max_accuracy)
        merged["sanity"] = _sanity(curves, large, limit)
    merged["seconds"] = float(old.get("seconds") or 0) + float(new.get("seconds") or 0)
    notes = []
    if kept:
        notes.append(f"kept the stored curves {', '.join(kept)}")
    if replaced:
        notes.append(f"replaced the curves {', '.join(replaced)} (their attack's options changed)")
    return merged, "; ".join(notes)


def merge_robust_accuracy_result(
    old: dict, new: dict, options: Optional[dict] = None
) -> tuple[dict, Optional[dict], str]:
    """The registered merge of ``robust_accuracy`` (:func:`robustopt.evaluation.merge.merge_result`): on the same
    images (same ``dataset`` and ``n``) curves are merged by label, and within a curve eps points by value (the new
    value wins at an eps both hold; the per-image masks stay aligned with ``eps``); a curve whose attack changed
    (another name, norm or options under the same label) is replaced by the new one, and the sanity flags are
    recomputed over the merged curves (with ``options``' ``large_eps_max_accuracy``).  On other images the new
    result replaces the stored one, which is kept under ``eval_replaced``: accuracies over different images are not
    one curve.  Results without curves are merged by the default rule."""
    if not (isinstance(old.get("attacks"), dict) and isinstance(new.get("attacks"), dict)):
        return keep_replaced("robust_accuracy", old, new)
    merged, note = merge_robust_accuracy(old, new, (options or {}).get("large_eps_max_accuracy"))
    other_images = (old.get("dataset"), old.get("n")) != (new.get("dataset"), new.get("n"))
    return (
        merged,
        (old if other_images else None),
        note + ("; the stored one is kept in eval_replaced.robust_accuracy" if other_images else ""),
    )


@register_evaluation(
    "robust_accuracy",
    defaults=DEFAULTS,
    check=check_robust_accuracy_options,
    merge=merge_robust_accuracy_result,
    null_means_default=True,
)
def evaluate_robust_accuracy(model: nn.Module, data: EvalData, cfg: dict, ctx: EvalContext) -> dict:
    """Robust accuracy under each configured attack over an eps grid (see the module docstring)."""
    opts = evaluation_options("robust_accuracy", cfg, data.dataset)  # also imports its plugins
    data = data.subset(int(opts["n_samples"]))
    specs = _prepared_specs(opts, data.dataset)
    device = torch.device(ctx.device)
    batch_size = int(opts["batch_size"] or ctx.batch_size)
    seed = int(opts["seed"] if opts["seed"] is not None else ctx.seed)
    images = _Images(data.x, data.y, batch_size, device)
    n = len(data)
    t0 = time.perf_counter()

    # the clean pass, in the model's own mode as the attacks (the pipeline puts it in eval mode)
    correct = images.correct = forward_outcomes(
        model, data.x, data.y, batch_size=batch_size, device=device, eval_mode=False
    ).correct
    clean_acc = int(correct.sum()) / n if n else 0.0
    per_eps_batches = math.ceil(int(correct.sum()) / batch_size)
    total = per_eps_batches * sum(len(s["eps"]) for s in specs)
    curves: dict[str, dict] = {}
    with tqdm(total=total, desc="robust_accuracy", disable=not ctx.progress, leave=False) as bar:
        for si, s in enumerate(specs):
            spec, t_spec = s["spec"], time.perf_counter()
            accs, masks = [], []
            for ei, eps in enumerate(s["eps"]):
                extra = {"eps": eps}
                if "seed" not in spec and _accepts(s["factory"], "seed"):
                    extra["seed"] = seed
                attack = build_attack(spec, **extra)
                bar.set_postfix_str(f"{spec['label']} eps={eps:g}")
                gen = torch.Generator().manual_seed(attack_seed(seed, si, ei))
                robust = _robust_mask(
                    model, attack, images, label=spec["label"], norm=spec["norm"], eps=eps, generator=gen, bar=bar
                )
                accs.append(int(robust.sum()) / n if n else 0.0)
                masks.append(encode_mask(robust))
            options = {k: v for k, v in spec.items() if k not in ("label", "eps", "norm", "name")}
            curves[spec["label"]] = {
                "name": spec.get("name") or spec.get("_target_"),
                "norm": spec["norm"],
                "options": options,
                "eps": s["eps"],
                "robust_accuracy": accs,
                "correct": masks,
                "seconds": time.perf_counter() - t_spec,
            }

        large: dict[str, dict] = {}
        if opts["sanity"] and n:
            for norm in sorted({c["norm"] for c in curves.values()}):
                pgd_spec = {
                    "name": "pgd",
                    "norm": norm,
                    "label": f"pgd-{norm}-large-eps",
                    "steps": int(opts["large_eps_steps"]),
                }
                eps = _large_eps(norm, data.x)
                attack = build_attack(pgd_spec, eps=eps, seed=seed)
                robust = _robust_mask(model, attack, images, label=pgd_spec["label"], norm=norm, eps=eps)
                large[norm] = {
                    "eps": eps,
                    "steps": int(opts["large_eps_steps"]),
                    "robust_accuracy": int(robust.sum()) / n,
                }

    result = {
        "dataset": data.dataset,
        "n": n,
        "clean_accuracy": clean_acc,
        "clean_correct": encode_mask(correct),
        "attacks": curves,
        "seconds": time.perf_counter() - t0,
    }
    if opts["sanity"]:
        result["sanity"] = _sanity(curves, large, float(opts["large_eps_max_accuracy"]))
        for msg in result["sanity"]["warnings"]:
            warnings.warn(f"robust_accuracy: {msg}", RuntimeWarning, stacklevel=2)

    if ctx.tracker is not None:
        columns, rows = results_table(result)
        ctx.tracker.log_table("robust_accuracy/table", columns, rows)
        if curves:
            ctx.tracker.log_figure("robust_accuracy/vs_eps", robust_accuracy_figure(result))
    return result
