"""Training throughput of the paper's c2 on the CPU at robustopt's default thread count against 1 thread and all
cores, with another busy process running (and, for reference, on an idle machine), measured side by side.

The default (``num_threads: auto``, :func:`robustopt.devices.default_num_threads`) is the cores this process really
has: its CPU affinity and cgroup quota, less the cores other processes keep busy.  Each round times a few training
steps at every setting in turn, so background load hits all of them alike; the best round of each is kept.  Prints
one JSON line::

    {"auto_vs_one": ..., "auto_vs_all": ..., "busy": {"auto": img/s, "one": img/s, "all": img/s, ...}, "idle": {...}}

    python scripts/bench/cpu_threads.py [--steps 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

import torch
import torch.nn.functional as F


def _spin(stop) -> None:  # the other busy process: pure Python arithmetic on one core
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 31 + 7) % 1_000_003


def _images_per_s(threads: int, steps: int, batch: int = 128) -> float:
    from robustopt.models import init_model

    torch.set_num_threads(threads)
    model = init_model(0, "c2", 1, 10, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    for _ in range(2):  # warm-up
        F.cross_entropy(model(x), y).backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


def _measure(steps: int, rounds: int, settings: dict[str, int]) -> dict[str, float]:
    best = dict.fromkeys(settings, 0.0)
    for _ in range(rounds):
        for name, threads in settings.items():
            best[name] = max(best[name], _images_per_s(threads, steps))
    return {k: round(v, 1) for k, v in best.items()}


def main() -> None:
    from robustopt.devices import available_cpus, busy_cpus, default_num_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpus = available_cpus()
    torch_default = torch.get_num_threads()
    idle = _measure(args.steps, args.rounds, {"one": 1, "all": cpus})
    stop = mp.Event()
    spinner = mp.Process(target=_spin, args=(stop,), daemon=True)
    spinner.start()
    time.sleep(65)  # let the 1-minute load average see the busy process, as a job starting now would
    auto = default_num_threads()
    busy = _measure(args.steps, args.rounds, {"auto": auto, "one": 1, "all": cpus})
    stop.set()
    spinner.join(timeout=5)
    print(
        json.dumps(
            {
                "auto_vs_one": round(busy["auto"] / busy["one"], 3),
                "auto_vs_all": round(busy["auto"] / busy["all"], 3),
                "busy": {**busy, "auto_threads": auto, "load_average": round(busy_cpus(), 2)},
                "idle": idle,
                "cpus": cpus,
                "torch_default_threads": torch_default,
                "model": "c2 (2.17M parameters), batch 128, SGD step",
            }
        )
    )


if __name__ == "__main__":
    main()
