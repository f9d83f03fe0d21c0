"""Training speed of the paper's c2 on the CPU: fp32 against bf16 autocast (``precision=bf16``), side by side.

Each round trains ``--steps`` Adam steps of batch 128 (channels_last, as the paper presets) from the same initial
weights on the same batches in fp32 and then in bf16, so that background load hits both alike; the best round of
each is kept.  The floating-point work of one training step is counted by ``torch.utils.flop_counter`` and set
against the core's measured matmul peak in the same precision (a 1024-square matmul, best of 5), and the minutes of
one training unit of the paper's Fashion-MNIST recipe (200 epochs of 60,000 images, plus the per-epoch fp32 test
pass over 10,000 images) follow from the measured speeds.  Prints one JSON line::

    {"bf16_vs_fp32": ..., "img_s": {...}, "gflop_s": {...}, "matmul_peak_gflop_s": {...}, "unit_minutes": {...}, ...}

    python scripts/bench/precision.py [--steps 40] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

BATCH = 128
TRAIN_IMAGES, TEST_IMAGES, EPOCHS = 60_000, 10_000, 200


def _batches(steps: int):
    gen = torch.Generator().manual_seed(0)
    return [
        (torch.rand(BATCH, 1, 28, 28, generator=gen), torch.randint(0, 10, (BATCH,), generator=gen))
        for _ in range(steps)
    ]


def _model():
    from robustopt.models import init_model

    return init_model(0, "c2", 1, 10, 28).to(memory_format=torch.channels_last)


def _step_fn(model, opt, dtype):
    def step(x, y):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
            loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _train(dtype: str, batches) -> float:
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    step = _step_fn(model, opt, dtype)
    step(*batches[0])  # warm-up
    t0 = time.perf_counter()
    for x, y in batches[1:]:
        step(x, y)
    return (len(batches) - 1) * BATCH / (time.perf_counter() - t0)


def _eval_speed(batches) -> float:
    """fp32 test-pass images/s (the per-epoch test evaluation stays fp32)."""
    model = _model().eval()
    x = torch.cat([b[0] for b in batches[:8]])
    with torch.no_grad():
        model(x[:BATCH].contiguous(memory_format=torch.channels_last))
        t0 = time.perf_counter()
        for i in range(0, len(x), 1024):
            model(x[i : i + 1024].contiguous(memory_format=torch.channels_last))
    return len(x) / (time.perf_counter() - t0)


def _flops_per_step(batches) -> int:
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)
    with FlopCounterMode(display=False) as counter:
        _step_fn(model, opt, "fp32")(*batches[0])
    return counter.get_total_flops()


def _matmul_peak(dtype: torch.dtype, n: int = 1024) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = _batches(args.steps + 1)
    best = {"fp32": 0.0, "bf16": 0.0}
    for _ in range(args.rounds):
        for dtype in best:
            best[dtype] = max(best[dtype], _train(dtype, batches))
    eval_img_s = _eval_speed(batches)
    flops_per_image = _flops_per_step(batches) / BATCH
    peak = {"fp32": _matmul_peak(torch.float32), "bf16": _matmul_peak(torch.bfloat16)}
    gflop_s = {d: best[d] * flops_per_image / 1e9 for d in best}
    unit_min = {d: (EPOCHS * TRAIN_IMAGES / best[d] + EPOCHS * TEST_IMAGES / eval_img_s) / 60 for d in best}
    print(
        json.dumps(
            {
                "bf16_vs_fp32": round(best["bf16"] / best["fp32"], 3),
                "img_s": {d: round(v, 1) for d, v in best.items()},
                "gflop_s": {d: round(v, 1) for d, v in gflop_s.items()},
                "matmul_peak_gflop_s": {d: round(v, 1) for d, v in peak.items()},
                "fraction_of_peak": {d: round(gflop_s[d] / peak[d], 3) for d in best},
                "unit_minutes": {d: round(v, 1) for d, v in unit_min.items()},
                "fp32_test_pass_img_s": round(eval_img_s, 1),
                "gflop_per_image_train_step": round(flops_per_image / 1e9, 5),
                "threads": args.threads,
                "steps": args.steps,
                "model": "c2 (2.17M parameters), batch 128, Adam, channels_last",
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
