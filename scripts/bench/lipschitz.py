"""Benchmark of robustopt.lipschitz: conv norms against a dense-SVD oracle, and whole-network upper bounds.

    .venv/bin/python scripts/bench/lipschitz.py [--threads 2] [--skip-networks]

For a range of conv layers (channels x input side, stride 1 and 2, zero padding) it builds the dense
matrix (pushing basis vectors through ``nn.Conv2d``), takes its top singular value with LAPACK, and
times Lanczos (the default), power iteration and the certified torus bound against it.  Then it
times ``upper_bound`` for ResNet-18 and VGG-11 on 3x32x32 inputs (freshly initialised, no cache), and
``paper_bound`` (the authors' reshaped-kernel product, float32 LAPACK SVDs as in their code) for ``c2``
on 1x28x28 and ``preact_resnet18`` on 3x32x32.  Both wall-clock and process CPU time are reported (the
machine may be shared).

Prints one JSON line with at least ``max_rel_err`` (Lanczos vs dense, over all layers),
``power_max_rel_err``, ``certified_min_ratio`` (certified / dense, must be >= 1), ``resnet18_s``
and ``vgg11_s`` (wall-clock seconds for the whole upper bound), ``paper_c2_s`` and ``paper_preact_resnet18_s``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn

from robustopt.lipschitz import conv_operator, lanczos_norm, network_bound, paper_bound, power_iteration_norm
from robustopt.lipschitz.conv import ConvGeometry, certified_upper_bound
from robustopt.models import init_model

LAYERS = [  # (in channels, out channels, side, stride, kernel)
    (3, 8, 8, 1, 3),
    (8, 8, 12, 1, 3),
    (8, 16, 12, 2, 3),
    (16, 16, 12, 1, 5),
    (32, 32, 8, 1, 3),
    (16, 32, 16, 2, 3),
]


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def conv_rows(seed: int = 0) -> list[dict]:
    rows = []
    for cin, cout, side, stride, k in LAYERS:
        torch.manual_seed(seed)
        conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        shape = (cin, side, side)
        op = conv_operator(conv, shape)
        dense, t_dense, _ = _timed(lambda op=op: float(np.linalg.svd(op.dense(), compute_uv=False)[0]))
        lanczos, t_lanczos, _ = _timed(lambda op=op: lanczos_norm(op, rtol=1e-5))
        (power, iters), t_power, _ = _timed(lambda op=op: power_iteration_norm(op, n_iter=1000, rtol=1e-6))
        geo = ConvGeometry.from_module(conv, shape)
        certified, t_cert, _ = _timed(lambda geo=geo, conv=conv: certified_upper_bound(conv.weight, geo))
        rows.append(
            {
                "layer": f"{cin}->{cout} {side}x{side} s{stride} k{k}",
                "dense_s": t_dense,
                "lanczos_rel_err": abs(lanczos - dense) / dense,
                "lanczos_s": t_lanczos,
                "power_rel_err": abs(power - dense) / dense,
                "power_iters": iters,
                "power_s": t_power,
                "certified_ratio": certified / dense,
                "certified_s": t_cert,
            }
        )
    return rows


def network_time(name: str) -> dict:
    model = init_model(0, name, 3, 10, 32)
    nb, wall, cpu = _timed(lambda: network_bound(model, (3, 32, 32)))
    return {"s": wall, "cpu_s": cpu, "upper": nb.total.upper, "norm_product": nb.total.norm}


def paper_time(name: str, in_channels: int, image_size: int) -> dict:
    model = init_model(0, name, in_channels, 10, image_size)
    value, wall, cpu = _timed(lambda: paper_bound(model))
    return {"s": wall, "cpu_s": cpu, "value": value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=2, help="torch intra-op threads (the target machine has 2 cores)"
    )
    parser.add_argument("--skip-networks", action="store_true")
    parser.add_argument("--only-paper", action="store_true", help="time paper_bound only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [] if args.only_paper else conv_rows()
    for r in rows:
        print(
            f"# {r['layer']:<24} lanczos err {r['lanczos_rel_err']:.1e} ({r['lanczos_s']:.2f}s)  power err "
            f"{r['power_rel_err']:.1e} ({r['power_iters']} it, {r['power_s']:.2f}s)  certified/dense "
            f"{r['certified_ratio']:.4f} ({r['certified_s']:.2f}s)  dense {r['dense_s']:.2f}s"
        )
    out: dict = {"threads": args.threads}
    if rows:
        out["max_rel_err"] = max(r["lanczos_rel_err"] for r in rows)
        out["power_max_rel_err"] = max(r["power_rel_err"] for r in rows)
        out["certified_min_ratio"] = min(r["certified_ratio"] for r in rows)
    if not args.skip_networks and not args.only_paper:
        for name in ("resnet18", "vgg11"):
            res = network_time(name)
            print(f"# {name}: certified upper {res['upper']:.4g}  operator-norm product {res['norm_product']:.4g}")
            out[f"{name}_s"] = res["s"]
            out[f"{name}_cpu_s"] = res["cpu_s"]
            out[f"{name}_upper"] = res["upper"]
            out[f"{name}_norm_product"] = res["norm_product"]
    for name, cin, size in (("c2", 1, 28), ("preact_resnet18", 3, 32)):
        res = paper_time(name, cin, size)
        print(f"# {name}: paper_bound {res['value']:.6g} ({res['s']:.2f}s, cpu {res['cpu_s']:.2f}s)")
        out[f"paper_{name}_s"] = res["s"]
        out[f"paper_{name}_cpu_s"] = res["cpu_s"]
    print(
        json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()})
    )


if __name__ == "__main__":
    main()
