"""The tables of the reproduction report and of the README, as Markdown, drawn from a sweep of the results store.

:mod:`paper_figures.report` and :mod:`paper_figures.readme_tables` both import them from here: what was trained
(:func:`setting_table`), our Figure-1 numbers beside the paper's (:func:`side_by_side_table`), every stored
perturbation size (:func:`all_sizes_table`), and the verdicts with their evidence (:func:`verdict_table`,
:func:`evidence_list`).  Every ``mean ± x`` is the half-width of the 95% interval over seeds
(:class:`robustopt.tracking.store.Stat`, built on :func:`robustopt.stats.mean_interval`).
"""

from __future__ import annotations

from paper_figures.claims import Claim
from paper_figures.figure1_data import (
    eps_text,
    figure1_setting,
    figure1_values,
    gaussian_accuracy,
    robust_accuracy,
    stored_eps,
    stored_variances,
)
from paper_figures.style import dataset_label, label
from robustopt.tracking.store import Sweep, per_optimizer

QUANTITY_TEXT = {
    "standard": "standard accuracy",
    "gaussian_noise": "Gaussian noise",
    "l2": "L2 attack",
    "linf": "L∞ attack",
}


def _pct(st, digits: int = 1) -> str:
    return "–" if st is None else st.fmt(100.0, digits)


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


_EVAL_OF = {"standard": "clean", "gaussian_noise": "gaussian_noise", "l2": "robust_accuracy", "linf": "robust_accuracy"}


def images_of(sweep: Sweep, ds: str, quantity: str, setting) -> str:
    """On how many test images a Figure 1 quantity of ``ds`` was measured (``standard@q``: those of ``q``): the same
    first images for every run when per-image outcomes allow; else each evaluation's own count; the whole test set
    for a standard accuracy that only training logged."""
    n = None if quantity == "standard" else setting.images(quantity)
    if n:
        return str(n)
    evaluation = _EVAL_OF[quantity.split("@", 1)[-1]]
    ns = sorted({int(n) for r in sweep.select(ds) if (n := (r.evals.get(evaluation) or {}).get("n")) is not None})
    if ns:
        return ", ".join(map(str, ns))
    return "whole test set" if quantity == "standard" else "–"


def side_by_side_table(sweep: Sweep, settings: dict, reference: dict) -> str:
    """Markdown: per data set and quantity, our mean ± 95% interval beside the paper's value, per optimizer, with the
    number of test images it was measured on (the same images for every optimizer).

    The standard accuracy is shown on the whole test set (beside the paper's), and again on the images of each
    perturbation it is compared with when those differ (the rows *on the same images*; Figure 1 plots each
    perturbed accuracy against that standard accuracy, from the same runs)."""
    names = list(
        dict.fromkeys(
            [n for n in ("sgd", "adam", "rmsprop") if any(n in sweep.optimizers(ds) for ds in sweep.datasets)]
            + [n for ds in sweep.datasets for n in sweep.optimizers(ds)]
        )
    )
    head = "| data set | quantity | images | " + " | ".join(f"{label(n)} ours | {label(n)} paper" for n in names) + " |"
    lines = [head, "|---|---|---:|" + "---:|---:|" * len(names)]
    for ds in sweep.datasets:
        setting, ref = settings[ds], reference.get(ds) or {}
        values = figure1_values(sweep, ds, setting)

        def cells(q: str, with_paper: bool, ref: dict = ref, values: dict = values) -> str:
            out = []
            for n in names:
                paper = (ref.get(q) or {}).get(n) if with_paper else None
                out.append(
                    f"{_pct(values[q].get(n))} | {paper:g}" if paper is not None else f"{_pct(values[q].get(n))} | –"
                )
            return " | ".join(out)

        shown = {(images_of(sweep, ds, "standard", setting), cells("standard", False))}
        lines.append(
            f"| {dataset_label(ds)} | standard accuracy (whole test set) | "
            f"{images_of(sweep, ds, 'standard', setting)} | " + cells("standard", True) + " |"
        )
        for q in ("gaussian_noise", "l2", "linf"):
            if q not in values:
                continue
            size = {
                "gaussian_noise": f" (variance {setting.variance:g})",
                "l2": f" ({setting.attack_l2}, ε = {eps_text(setting.eps_l2, 'l2')})"
                if setting.eps_l2 is not None
                else "",
                "linf": f" ({setting.attack_linf}, ε = {eps_text(setting.eps_linf, 'linf')})"
                if setting.eps_linf is not None
                else "",
            }[q]
            std = f"standard@{q}"
            key = (images_of(sweep, ds, std, setting), cells(std, False))
            if key not in shown:  # the standard accuracy this row is compared with, on its images and runs
                shown.add(key)
                beside = "the noise's" if q == "gaussian_noise" else "the attacks'"
                lines.append(
                    f"| {dataset_label(ds)} | standard accuracy on {beside} images (same runs) | {key[0]} | {key[1]} |"
                )
            lines.append(
                f"| {dataset_label(ds)} | {QUANTITY_TEXT[q]}{size} | {images_of(sweep, ds, q, setting)} | "
                + cells(q, True)
                + " |"
            )
    return "\n".join(lines)


def all_sizes_table(sweep: Sweep, ds: str) -> str:
    """Markdown: our accuracy (%) at every stored variance and eps, one column per optimizer (each evaluation's own
    images)."""
    runs = sweep.select(ds)
    names = sweep.optimizers(ds)
    lines = ["| perturbation | " + " | ".join(label(n) for n in names) + " |", "|---|" + "---:|" * len(names)]
    std = per_optimizer(runs, lambda r: r.test_accuracy)
    lines.append("| none (standard accuracy, whole test set) | " + " | ".join(_pct(std.get(n)) for n in names) + " |")
    for v in stored_variances(sweep, ds):
        st = per_optimizer(runs, lambda r, v=v: gaussian_accuracy(r, v))
        lines.append(f"| Gaussian noise, variance {v:g} | " + " | ".join(_pct(st.get(n)) for n in names) + " |")
    setting = figure1_setting(sweep, ds)
    for norm in ("l2", "linf"):
        attack = setting.attack_l2 if norm == "l2" else setting.attack_linf
        for e in stored_eps(sweep, ds, norm):
            st = per_optimizer(runs, lambda r, e=e, norm=norm, a=attack: robust_accuracy(r, norm, e, a))
            lines.append(
                f"| {attack} {'L2' if norm == 'l2' else 'L∞'}, ε = {eps_text(e, norm)} | "
                + " | ".join(_pct(st.get(n)) for n in names)
                + " |"
            )
    return "\n".join(lines)


def setting_table(sweep: Sweep) -> str:
    """Markdown: what was trained (per data set and optimizer: model, epochs, learning rate, seeds, evaluated
    epochs)."""
    lines = [
        "| data set | model | optimizer | learning rate | epochs | seeds | evaluated at epoch |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for ds in sweep.datasets:
        for opt in sweep.optimizers(ds):
            runs = sweep.select(ds, opt)
            cfg = runs[0].config
            seeds = ", ".join(str(r.seed) for r in runs)
            epochs = ", ".join(str(r.epoch) for r in runs)
            lines.append(
                f"| {dataset_label(ds)} | {cfg.get('model', {}).get('name')} | {label(opt)} | "
                f"{cfg.get('optimizer', {}).get('lr', '–'):g} | {cfg.get('epochs')} | {seeds} | {epochs} |"
            )
    return "\n".join(lines)


def verdict_table(claims: list[Claim]) -> list[str]:
    lines = ["| claim | scope | protocol | verdict | why |", "|---|---|---|---|---|"]
    for c in claims:
        lines.append(
            f"| {md_cell(c.claim)} | {md_cell(c.scope)} | {md_cell(c.protocol)} | **{c.verdict.label}** | "
            f"{md_cell(c.verdict.reason)} |"
        )
    return lines


def evidence_list(claims: list[Claim]) -> list[str]:
    return [
        f"- **{md_cell(c.scope)}** ({c.protocol}, {c.verdict.label}): {md_cell(c.evidence)}"
        for c in claims
        if c.evidence
    ]
