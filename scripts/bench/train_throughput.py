"""Training throughput of robustopt's ``fit`` against two baselines, measured side by side.

* ``plain``: a minimal hand-written PyTorch loop over the same in-memory tensors and model (the floor);
* ``dataloader``: torchvision's ``FashionMNIST`` dataset with ``transforms.ToTensor()`` behind a
  ``torch.utils.data.DataLoader`` (the usual per-image pipeline).

Each round trains one epoch on the same images with each of the three, in turn (so background load
hits all three alike); the best round of each is kept.  Prints one JSON line::

    {"vs_plain": ours/plain, "vs_dataloader": ours/dataloader, ...images/s...}

    python scripts/bench/train_throughput.py [--n 20000] [--rounds 3] [--device cpu|cuda] [--model c2|preact_resnet18]
        [--channels-last] [--amp]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

MODEL = {"name": "c2", "in_channels": 1, "image_size": 28}


def _make(model_seed: int, device):
    from robustopt.models import init_model
    from robustopt.optim import build_optimizer

    model = init_model(
        model_seed, MODEL["name"], in_channels=MODEL["in_channels"], num_classes=10, image_size=MODEL["image_size"]
    ).to(device)
    return model, build_optimizer("sgd", model.parameters(), lr=0.01)


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_ours(x, y, batch_size, device, amp, channels_last) -> float:
    from robustopt.data import TensorBatches
    from robustopt.train import fit

    model, opt = _make(0, device)
    batches = TensorBatches(x, y, batch_size, data_seed=0, device=device)
    _sync(device)
    t0 = time.perf_counter()
    fit(model, opt, batches, None, epochs=1, device=device, progress=False, amp=amp, channels_last=channels_last)
    _sync(device)
    return x.shape[0] / (time.perf_counter() - t0)


def bench_plain(x, y, batch_size, device) -> float:
    model, opt = _make(0, device)
    xf, yd = x.to(device).float().div_(255), y.to(device)
    gen = torch.Generator().manual_seed(0)
    _sync(device)
    t0 = time.perf_counter()
    perm = torch.randperm(xf.shape[0], generator=gen).to(device)
    model.train()
    for i in range(0, xf.shape[0], batch_size):
        idx = perm[i : i + batch_size]
        loss = F.cross_entropy(model(xf[idx]), yd[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return xf.shape[0] / (time.perf_counter() - t0)


def bench_dataloader(root, n, batch_size, device, workers) -> float:
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    model, opt = _make(0, device)
    ds = Subset(datasets.FashionMNIST(root, train=True, download=False, transform=transforms.ToTensor()), range(n))
    loader = DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        generator=torch.Generator().manual_seed(0),
        pin_memory=device.type == "cuda",
    )
    _sync(device)
    t0 = time.perf_counter()
    model.train()
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return n / (time.perf_counter() - t0)


def main() -> None:
    from robustopt.data import load_split_uint8
    from robustopt.devices import resolve_device

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--root", default="data", help="data root holding FashionMNIST/raw (filled from the Debian package if needed)"
    )
    parser.add_argument("--n", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes for the baseline")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument(
        "--model",
        default="c2",
        choices=["c2", "preact_resnet18"],
        help="c2 on Fashion-MNIST, or preact_resnet18 on random 3x32x32 images (no DataLoader baseline)",
    )
    args = parser.parse_args()

    device = resolve_device(args.device)
    if args.model == "c2":
        x, y = load_split_uint8("fashion_mnist", args.root, "train")
        x, y = x[: args.n], y[: args.n]
    else:
        MODEL.update(name=args.model, in_channels=3, image_size=32)
        gen = torch.Generator().manual_seed(0)
        x = torch.randint(0, 256, (args.n, 3, 32, 32), generator=gen, dtype=torch.uint8)
        y = torch.randint(0, 10, (args.n,), generator=gen)
    results = {"ours": [], "plain": [], "dataloader": []}
    bench_plain(x[:2048], y[:2048], args.batch_size, device)  # warm-up (allocator, kernels)
    for _ in range(args.rounds):
        results["ours"].append(bench_ours(x, y, args.batch_size, device, args.amp, args.channels_last))
        results["plain"].append(bench_plain(x, y, args.batch_size, device))
        if args.model == "c2":
            results["dataloader"].append(bench_dataloader(args.root, args.n, args.batch_size, device, args.workers))
    best = {k: max(v) if v else None for k, v in results.items()}
    print(
        json.dumps(
            {
                "benchmark": "train_throughput",
                "vs_plain": round(best["ours"] / best["plain"], 3),
                "vs_dataloader": round(best["ours"] / best["dataloader"], 3) if best["dataloader"] else None,
                "ours_img_s": round(best["ours"], 1),
                "plain_img_s": round(best["plain"], 1),
                "dataloader_img_s": round(best["dataloader"], 1) if best["dataloader"] else None,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "n_images": args.n,
                "batch_size": args.batch_size,
                "rounds": args.rounds,
                "dataloader_workers": args.workers,
                "model": args.model,
                "dataset": "fashion_mnist" if args.model == "c2" else "random 3x32x32",
                "channels_last": args.channels_last,
                "amp": args.amp,
            }
        )
    )


if __name__ == "__main__":
    main()
