"""Integration on the real Fashion-MNIST (Debian's dataset-fashion-mnist): the entry points train the
paper's c2 with SGD and Adam from the same initial weights and reach sensible accuracy."""

from __future__ import annotations

import pytest

from robustopt.rundir import find_runs
from tests.conftest import FASHION_MNIST_SYSTEM_DIR, REPO, run_entry


@pytest.mark.slow
def test_quick_sweep_on_real_fashion_mnist(tmp_path, fashion_mnist_root):
    out = tmp_path / "out"
    args = [
        "-m",
        "experiment=quick",
        "optimizer=sgd,adam",
        "epochs=1",
        "logger=none",
        "progress=false",
        "dataset.train_subset=12000",
        "evaluations=[clean]",
        f"paths.data_dir={fashion_mnist_root}",
        f"paths.output_dir={out}",
    ]
    res = run_entry("train.py", args, env={"ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR": str(FASHION_MNIST_SYSTEM_DIR)})
    assert res.returncode == 0, res.stderr[-3000:]
    runs = {r.config()["optimizer"]["name"]: r for r in find_runs(out / "multiruns" / "quick")}
    assert set(runs) == {"sgd", "adam"}
    assert runs["sgd"].meta()["init"]["sha256"] == runs["adam"].meta()["init"]["sha256"]
    for name, run in runs.items():
        summary = run.summary()
        assert run.status == "completed"
        assert summary["eval"]["clean"]["n"] == 10000  # the whole real test set
        floor = (
            0.70 if name == "adam" else 0.20
        )  # one epoch on 12k images at the paper's lr (SGD 0.01 learns slowly); chance is 0.10
        assert summary["eval"]["clean"]["accuracy"] > floor, (name, summary["eval"]["clean"])
    assert (fashion_mnist_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()
    report = run_entry("../scripts/compare_runs.py", [str(out / "multiruns" / "quick")])
    assert report.returncode == 0, report.stderr
    assert "sgd" in report.stdout and "adam" in report.stdout and "test accuracy" in report.stdout


@pytest.mark.slow
def test_readme_library_example_runs(fashion_mnist_root, monkeypatch):
    """The README's notebook example, run as written (on a data root holding the real Fashion-MNIST)."""
    import re

    import torch

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using the library from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'root="data"' in code
    monkeypatch.setenv("ROBUSTOPT_FASHION_MNIST_SYSTEM_DIR", str(FASHION_MNIST_SYSTEM_DIR))
    namespace: dict = {}
    exec(compile(code.replace('root="data"', f'root="{fashion_mnist_root}"'), "README.md", "exec"), namespace)
    x_adv, xt, model = namespace["x_adv"], namespace["xt"], namespace["model"]
    assert x_adv.shape == (256, 1, 28, 28)
    assert float((x_adv - xt[:256]).abs().max()) <= 0.03 + 1e-6
    with torch.no_grad():
        clean = (model(xt[:256]).argmax(1) == namespace["yt"][:256]).float().mean()
        robust = (model(x_adv).argmax(1) == namespace["yt"][:256]).float().mean()
    assert clean > 0.7 and robust < clean

    # the front door, on the model just trained, as written (on 20 test images instead of 1000: PGD-100 at six eps
    # takes about a second per image on a CPU)
    front = section.split("### One call from a notebook", 1)[1]
    code = re.search(r"```python\n(.*?)```", front, re.S).group(1)
    assert "n_examples=1000" in code and 'root="data"' in code
    exec(
        compile(
            code.replace("n_examples=1000", "n_examples=20").replace('root="data"', f'root="{fashion_mnist_root}"'),
            "README.md",
            "exec",
        ),
        namespace,
    )
    results = namespace["results"]
    with torch.no_grad():
        first = (model(xt[:20]).argmax(1) == namespace["yt"][:20]).float().mean().item()
    assert results["clean"]["n"] == 20 and results["clean"]["accuracy"] == pytest.approx(first)
    pgd = results["robust_accuracy"]["attacks"]["pgd-linf"]
    assert pgd["eps"] == [0.01, 0.03, 0.05] and all(a <= first for a in pgd["robust_accuracy"])  # the paper's grid
    assert len(results["band_noise"]["dct"]["drop"]) == 10
