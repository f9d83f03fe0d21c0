"""Cost of robustopt.sharpness on the paper's ``c2`` (Fashion-MNIST, 1x28x28): the top Hessian eigenvalue of the
mean cross-entropy on 1000 images against one training epoch of 60,000 images.

    .venv/bin/python scripts/bench/sharpness.py [--threads 1] [--n 1000] [--train-steps 300] [--trace-probes 0]

1. Trains a freshly initialised c2 (init_seed 0) for ``--train-steps`` SGD steps (lr 0.01, momentum 0.9) at
   ``--train-batch`` (128) on Fashion-MNIST training images (random images if the data set is not available
   offline), with a plain PyTorch loop over in-memory tensors (as ``train_throughput.py``'s ``plain`` baseline;
   ``fit`` runs at about the same speed).  The time per step, times ceil(60000 / batch), is the *extrapolated*
   time of one epoch (a whole epoch is not run).  These steps also move the model off its initialisation, so the
   Hessian is measured at partly trained weights.
2. Times ``hessian_eigenvalues(model, x, y, k=1)`` on the first ``--n`` (1000) test images (chunks of
   ``--batch-size``, ARPACK ``--tol``), and, with ``--trace-probes`` > 0, ``hessian_trace``.

Prints one JSON line with ``ratio_epochs`` = eigenvalue seconds / extrapolated epoch seconds (target: < 2),
the number of Hessian-vector products, both times, the threads and the machine's load average (it may be shared).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F


def load(root: str, n_train: int, n_eval: int):
    """(train x, train y, eval x, eval y, source): Fashion-MNIST in [0, 1] if available offline, else random."""
    from robustopt.data import load_split_uint8
    from robustopt.errors import DataError

    try:
        xt, yt = load_split_uint8("fashion_mnist", root, "train")
        xe, ye = load_split_uint8("fashion_mnist", root, "test")
        return xt[:n_train].float().div(255), yt[:n_train], xe[:n_eval].float().div(255), ye[:n_eval], "fashion_mnist"
    except (DataError, OSError):
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(n_train + n_eval, 1, 28, 28, generator=gen)
        y = torch.randint(0, 10, (n_train + n_eval,), generator=gen)
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:], "random"


def main() -> None:
    from robustopt.models import init_model
    from robustopt.optim import build_optimizer
    from robustopt.sharpness import hessian_eigenvalues, hessian_trace

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", default="data", help="data root holding FashionMNIST (filled from the Debian package if needed)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--n", type=int, default=1000, help="images the Hessian is taken on")
    parser.add_argument("--batch-size", type=int, default=250, help="images per chunk of each Hessian-vector product")
    parser.add_argument("--tol", type=float, default=1e-4, help="ARPACK relative residual tolerance")
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--train-steps", type=int, default=300, help="timed training steps (the epoch is extrapolated)")
    parser.add_argument("--epoch-images", type=int, default=60000)
    parser.add_argument(
        "--trace-probes", type=int, default=0, help="also time hessian_trace with this many probes (0: no)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    xt, yt, xe, ye, source = load(args.root, args.train_steps * args.train_batch, args.n)
    model = init_model(0, "c2", in_channels=1, num_classes=10, image_size=28)
    opt = build_optimizer("sgd", model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(xt.shape[0], generator=gen)
    model.train()
    for i in range(3):  # warm-up (allocator), not timed
        idx = perm[i * args.train_batch : (i + 1) * args.train_batch]
        F.cross_entropy(model(xt[idx]), yt[idx]).backward()
    opt.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    for i in range(args.train_steps):
        idx = perm[i * args.train_batch : (i + 1) * args.train_batch]
        loss = F.cross_entropy(model(xt[idx]), yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    step_s = (time.perf_counter() - t0) / args.train_steps
    epoch_s = step_s * math.ceil(args.epoch_images / args.train_batch)

    info: dict = {}
    t0 = time.perf_counter()
    top = hessian_eigenvalues(model, xe, ye, k=1, batch_size=args.batch_size, tol=args.tol, info=info)
    eig_s = time.perf_counter() - t0
    out = {
        "benchmark": "sharpness",
        "ratio_epochs": round(eig_s / epoch_s, 3),
        "eigenvalue_s": round(eig_s, 2),
        "epoch_s_extrapolated": round(epoch_s, 2),
        "train_step_s": round(step_s, 4),
        "train_steps_timed": args.train_steps,
        "train_batch": args.train_batch,
        "top_eigenvalue": round(top[0], 6),
        "hvp_count": info["matvecs"],
        "s_per_hvp": round(eig_s / max(1, info["matvecs"]), 3),
        "train_loss_last": round(loss.item(), 4),
        "hessian_images": args.n,
        "chunk": args.batch_size,
        "tol": args.tol,
        "data": source,
        "model": "c2",
    }
    if args.trace_probes:
        t0 = time.perf_counter()
        tr = hessian_trace(model, xe, ye, n_samples=args.trace_probes, batch_size=args.batch_size)
        out.update(
            trace=round(tr.trace, 4),
            trace_stderr=round(tr.stderr, 4),
            trace_probes=args.trace_probes,
            trace_s=round(time.perf_counter() - t0, 2),
        )
    out.update(
        threads=torch.get_num_threads(),
        loadavg_before=[round(v, 2) for v in load_before],
        loadavg_after=[round(v, 2) for v in os.getloadavg()],
        cpus=os.cpu_count(),
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
