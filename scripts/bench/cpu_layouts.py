"""Training speed of the paper's c2 on the CPU in fp32: eager NCHW against channels_last against torch.compile,
measured side by side, and whether each is deterministic run to run.

Each round trains ``--steps`` SGD steps of batch 128 from the same initial weights on the same batches with each
variant in turn (so background load hits all alike); the best round is kept.  A variant is *deterministic* when two
runs from the same start end with bitwise-equal weights.  Prints one JSON line::

    {"channels_last_vs_eager": ..., "compile_vs_eager": ..., "img_s": {...}, "deterministic": {...}, ...}

    python scripts/bench/cpu_layouts.py [--steps 30] [--rounds 3] [--threads 1]

Outcome on the development machine (2 cores): channels_last is the fastest deterministic variant and is what
``channels_last: true`` turns on (the demo preset and the full reproduction use it); compiling brings nothing
measurable for this network.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def _batches(steps: int, batch: int = 128):
    gen = torch.Generator().manual_seed(0)
    return [
        (torch.rand(batch, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen))
        for _ in range(steps)
    ]


def _train(variant: str, batches) -> tuple[float, torch.Tensor]:
    from robustopt.models import init_model

    model = init_model(0, "c2", 1, 10, 28)
    layout = torch.channels_last if variant in ("channels_last", "compile_channels_last") else torch.contiguous_format
    model = model.to(memory_format=layout)
    step_model = torch.compile(model) if variant.startswith("compile") else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        loss = F.cross_entropy(step_model(x.contiguous(memory_format=layout)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(*batches[0])  # warm-up (and compilation)
    t0 = time.perf_counter()
    for x, y in batches[1:]:
        step(x, y)
    seconds = time.perf_counter() - t0
    return (len(batches) - 1) * batches[0][0].shape[0] / seconds, torch.cat(
        [p.detach().flatten() for p in model.parameters()]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", default="eager,channels_last,compile,compile_channels_last")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    batches = _batches(args.steps + 1)
    best = dict.fromkeys(variants, 0.0)
    weights: dict[str, list] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            speed, w = _train(v, batches)
            best[v] = max(best[v], speed)
            weights[v].append(w)
    deterministic = {v: all(torch.equal(weights[v][0], w) for w in weights[v][1:]) for v in variants}
    reference = weights["eager"][0] if "eager" in weights else None
    out = {f"{v}_vs_eager": round(best[v] / best["eager"], 3) for v in variants if v != "eager" and "eager" in best}
    out.update(
        {
            "img_s": {v: round(s, 1) for v, s in best.items()},
            "deterministic": deterministic,
            "max_abs_diff_vs_eager": {
                v: float((weights[v][0] - reference).abs().max()) for v in variants if reference is not None
            },
            "threads": args.threads,
            "steps": args.steps,
            "model": "c2 (2.17M parameters), fp32, batch 128, SGD",
            "torch": torch.__version__,
        }
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
