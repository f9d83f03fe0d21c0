"""PGD-10 L-inf throughput (images/s) of robustopt.attacks.PGD against the floor and torchattacks.

Side by side in one process, on the paper's small CNN (``c2``, MNIST-sized inputs):

* ``ours``: ``robustopt.attacks.PGD(eps, alpha, steps=10, norm="linf")``;
* ``plain``: a minimal hand-written PGD loop (random start + 10 forward/backward passes), the floor;
* ``torchattacks``: ``torchattacks.PGD`` when that bench-only package is installed.

The three run interleaved (rotating order) for ``--repeats`` rounds; the fastest round of each
is used (on a shared machine the minimum is the least noisy estimate).  On the CPU the ratios use
the process's CPU time (what the attack costs, without the waits for other processes on a busy
machine; wall-clock rates are printed too); on a GPU they use wall-clock time.  Prints one JSON line; ``vs_plain`` /
``vs_torchattacks`` are our images/s divided by theirs (``null`` when torchattacks is absent).  Targets:
vs_plain >= 0.95, vs_torchattacks >= 1.0.

    .venv/bin/python scripts/bench/attack_throughput.py [--batch-size 256] [--repeats 15] [--device cpu]

``--autoattack N`` instead times the standard AutoAttack (the paper's attack, through the ``autoattack``
adapter) on the first N test images, once per norm, at the smallest eps of the paper's grid for the data
set (or ``--eps-linf`` / ``--eps-l2``): on a trained run's model and test set with ``--run-dir``, else on
an untrained c2 and random images.  The cost depends on how many images survive APGD-CE (the survivors
go through APGD-T, FAB-T and 5000 Square queries), so time a trained model to extrapolate to 1000 images:

    .venv/bin/python scripts/bench/attack_throughput.py --autoattack 20 --threads 1 --run-dir outputs/runs/...
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from robustopt.attacks import PGD, build_attack, default_eps_grid
from robustopt.models import init_model


def plain_pgd(model, x, y, eps, alpha, steps, generator):
    """The floor: a minimal PGD loop with nothing but the arithmetic."""
    noise = torch.rand(x.shape, generator=generator).to(x.device)
    x_adv = (x + (2 * noise - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autoattack_timing(args, device: torch.device) -> dict:
    """Seconds (wall and process CPU) of standard AutoAttack per norm on the first ``args.autoattack`` images."""
    if args.run_dir:
        from robustopt.evaluation.pipeline import load_trained_model, test_data
        from robustopt.rundir import RunDir

        run = RunDir(args.run_dir)
        model = load_trained_model(run, device)
        data = test_data(run.config(), args.data_dir).subset(args.autoattack)
        x, y, dataset, what = data.x, data.y, data.dataset, f"trained run {args.run_dir}"
    else:
        model = init_model(0, "c2", 1, 10, 28).to(device).eval()
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(args.autoattack, 1, 28, 28, generator=gen)
        with torch.no_grad():
            y = model(x.to(device)).argmax(1).cpu()  # all correct: every image is attacked
        dataset, what = "fashion_mnist", "untrained c2, random images"
    x, y = x.to(device), y.to(device)
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    out = {
        "bench": "autoattack_standard",
        "model": what,
        "dataset": dataset,
        "n_images": int(x.shape[0]),
        "clean_correct": int(correct.sum()),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "norms": {},
    }
    for norm in ("linf", "l2"):
        eps = getattr(args, f"eps_{norm}") or default_eps_grid(dataset, norm)[0]
        attack = build_attack({"name": "autoattack", "norm": norm, "version": "standard"}, eps=eps, seed=0)
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        x_adv = attack(model, x[correct], y[correct])  # as the evaluation does: only correct images
        _sync(device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        with torch.no_grad():
            robust = int((model(x_adv).argmax(1) == y[correct]).sum())
        out["norms"][norm] = {
            "eps": eps,
            "robust": robust,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "wall_s_per_image": round(wall / max(int(x.shape[0]), 1), 3),
            "cpu_s_per_image": round(cpu / max(int(x.shape[0]), 1), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--autoattack", type=int, default=0, metavar="N", help="time standard AutoAttack on N images instead"
    )
    parser.add_argument("--run-dir", default=None, help="with --autoattack: a trained run (its model and test set)")
    parser.add_argument(
        "--data-dir", default=None, help="with --run-dir: where the data set lives (default: the run's)"
    )
    parser.add_argument(
        "--eps-linf", type=float, default=None, help="with --autoattack (default: the paper's smallest)"
    )
    parser.add_argument("--eps-l2", type=float, default=None, help="with --autoattack (default: the paper's smallest)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.autoattack:
        print(json.dumps(autoattack_timing(args, device)), flush=True)
        return
    model = init_model(0, "c2", 1, 10, 28).to(device).eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch_size, 1, 28, 28, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch_size,), generator=gen).to(device)
    eps, alpha, steps = args.eps, args.eps / 4, args.steps

    ours = PGD(eps=eps, alpha=alpha, steps=steps, norm="linf")
    methods = {
        "ours": lambda: ours(model, x, y),
        "plain": lambda: plain_pgd(model, x, y, eps, alpha, steps, torch.Generator().manual_seed(0)),
    }
    try:
        import torchattacks

        ta = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
        methods["torchattacks"] = lambda: ta(x, y)
    except ImportError:
        torchattacks = None

    for fn in methods.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in methods}
    cpu_times: dict[str, list[float]] = {k: [] for k in methods}
    names = list(methods)
    for r in range(args.repeats):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            methods[k]()
            _sync(device)
            times[k].append(time.perf_counter() - t0)
            cpu_times[k].append(time.process_time() - c0)
    wall_rate = {k: args.batch_size / min(v) for k, v in times.items()}
    cpu_rate = {k: args.batch_size / min(v) for k, v in cpu_times.items()}
    rate = cpu_rate if device.type == "cpu" else wall_rate
    out = {
        "bench": "attack_throughput",
        "attack": f"PGD-{steps} linf",
        "model": "c2 (28x28x1)",
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "clock": "cpu" if device.type == "cpu" else "wall",
        "images_per_s": {k: round(v, 1) for k, v in rate.items()},
        "images_per_s_wall": {k: round(v, 1) for k, v in wall_rate.items()},
        "wall_vs_plain": round(wall_rate["ours"] / wall_rate["plain"], 3),
        "vs_plain": round(rate["ours"] / rate["plain"], 3),
        "vs_torchattacks": round(rate["ours"] / rate["torchattacks"], 3) if "torchattacks" in rate else None,
        "torchattacks_version": getattr(torchattacks, "__version__", None) if torchattacks else None,
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
