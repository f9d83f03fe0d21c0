"""N training jobs at once on one device against the same N jobs one after another, measured side by side.

Small models such as the paper's c2 are limited by kernel launches and Python overhead, not by arithmetic, so one
job leaves a GPU mostly idle; running N jobs at once (``launcher=joblib_gpu``, each job with its own CPU threads)
keeps it busy.  Each job trains ``--steps`` steps of ``fit`` on random data in its own process (as a multirun's jobs
do).  Prints one JSON line::

    {"speedup": sequential_seconds / concurrent_seconds, "jobs": N, ...}

    python scripts/bench/concurrent_jobs.py --device cuda --jobs 4 [--model c2|preact_resnet18] [--steps 200]
    python scripts/bench/concurrent_jobs.py --device cpu --jobs 2 --threads 1    # the CPU analogue
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _job(model: str, steps: int, device: str, threads: int, channels_last: bool) -> None:
    import torch

    from robustopt.data import TensorBatches
    from robustopt.devices import resolve_device
    from robustopt.models import init_model
    from robustopt.optim import build_optimizer
    from robustopt.train import fit

    torch.set_num_threads(threads)
    dev = resolve_device(device)
    c, s = (1, 28) if model == "c2" else (3, 32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (steps * 128, c, s, s), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 10, (steps * 128,), generator=gen)
    net = init_model(0, model, c, 10, s)
    opt = build_optimizer("sgd", net.parameters(), lr=0.01)
    fit(
        net,
        opt,
        TensorBatches(x, y, 128, device=dev),
        None,
        epochs=1,
        device=dev,
        progress=False,
        channels_last=channels_last,
    )
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _spawn(args) -> subprocess.Popen:
    cmd = [
        sys.executable,
        __file__,
        "--job",
        "--model",
        args.model,
        "--steps",
        str(args.steps),
        "--device",
        args.device,
        "--threads",
        str(args.threads),
    ] + (["--channels-last"] if args.channels_last else [])
    return subprocess.Popen(cmd)


def _wait(procs) -> None:
    for p in procs:
        if p.wait() != 0:
            raise SystemExit(f"a job failed with status {p.returncode}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--model", default="c2", choices=["c2", "preact_resnet18"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of each job")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        _job(args.model, args.steps, args.device, args.threads, args.channels_last)
        return
    t0 = time.perf_counter()
    for _ in range(args.jobs):
        _wait([_spawn(args)])
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    _wait([_spawn(args) for _ in range(args.jobs)])
    concurrent = time.perf_counter() - t0
    images = args.jobs * args.steps * 128
    print(
        json.dumps(
            {
                "speedup": round(sequential / concurrent, 3),
                "jobs": args.jobs,
                "sequential_s": round(sequential, 2),
                "concurrent_s": round(concurrent, 2),
                "sequential_img_s": round(images / sequential, 1),
                "concurrent_img_s": round(images / concurrent, 1),
                "model": args.model,
                "device": args.device,
                "threads_per_job": args.threads,
                "steps_per_job": args.steps,
                "note": "each job is a fresh process (start-up included), as the jobs of a multirun are",
            }
        )
    )


if __name__ == "__main__":
    main()
