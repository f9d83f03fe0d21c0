"""Benchmark of the batched RandomResizedCrop (robustopt.data.augment) against a training step, and its accuracy.

    .venv/bin/python scripts/bench/augment.py                    # CPU, batch 128, preact_resnet18 at 224 px
    .venv/bin/python scripts/bench/augment.py --device cuda --reps 20

Prints one JSON line:
  augment_over_step       time of the augmentation of one batch as TensorBatches runs it (uint8 -> float, random
                          resized crop 256 -> 224, horizontal flip) over the time of one SGD training step of
                          preact_resnet18 on 128 224-px images (forward, backward, update);
  rrc_over_step           the random resized crop alone over the training step;
  torchvision_loop_over_rrc   torchvision.transforms.v2.RandomResizedCrop(224, antialias=True) applied image by
                          image to the same float batch (the usual per-image pipeline), over ours;
  max_err_* / mean_err_*  on a natural photograph (matplotlib's grace_hopper.jpg, 256x256 centre crop) and 128
                          boxes of our sampler: absolute difference, in uint8 steps (x255), from torchvision's
                          resized_crop(antialias=True) of the same box, for ours (separable antialiased weights,
                          two batched matmuls), grid_sample (bilinear, align_corners=False) and roi_align
                          (aligned=True, adaptive sampling ratio) -- the two batched alternatives we did not use.
Each ratio is the median over repetitions of (cost / step) measured side by side in the same repetition, which
is robust to load drifting on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def natural_image() -> torch.Tensor:
    """A 3x256x256 float photograph (Resize(256) + CenterCrop(256)), or smooth noise if matplotlib's is missing."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    try:
        import matplotlib
        from PIL import Image

        path = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg")
        img = Image.open(path).convert("RGB")
        img = TF.center_crop(
            TF.resize(img, [256], interpolation=InterpolationMode.BILINEAR, antialias=True), [256, 256]
        )
        return TF.pil_to_tensor(img).float() / 255
    except (OSError, ImportError):
        g = torch.Generator().manual_seed(0)
        return F.interpolate(torch.rand(1, 3, 32, 32, generator=g), size=256, mode="bicubic").clamp(0, 1)[0]


def grid_sample_crop(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear resampling of each box with grid_sample (no antialiasing)."""
    n, _, height, width = x.shape
    top, left, h, w = boxes.to(x.dtype).unbind(1)
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def roi_align_crop(x: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box averaged over bins by torchvision.ops.roi_align (aligned, adaptive sampling ratio)."""
    from torchvision.ops import roi_align

    top, left, h, w = boxes.to(x.dtype).unbind(1)
    rois = torch.stack([torch.arange(x.shape[0], dtype=x.dtype), left, top, left + w, top + h], 1)
    return roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)


def accuracy(size: int = 224, n: int = 128) -> dict:
    from torchvision.transforms.v2 import functional as TF

    from robustopt.data.augment import random_resized_boxes, resized_crop

    img = natural_image()
    x = img.expand(n, -1, -1, -1).contiguous()
    boxes = random_resized_boxes(n, 256, 256, torch.Generator().manual_seed(0))
    boxes[0] = torch.tensor([0, 0, 256, 256])  # one downscaled whole image
    ref = torch.stack([TF.resized_crop(img, *b, [size, size], antialias=True) for b in boxes.tolist()])
    out = {}
    for name, fn in (("ours", resized_crop), ("grid_sample", grid_sample_crop), ("roi_align", roi_align_crop)):
        err = (fn(x, boxes, size) - ref).abs() * 255
        out[f"max_err_{name}"] = round(err.max().item(), 4)
        out[f"mean_err_{name}"] = round(err.mean().item(), 5)
    return out


def main() -> None:
    from torchvision.transforms import v2

    from robustopt.data.augment import random_hflip, random_resized_crop
    from robustopt.models import build_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="preact_resnet18")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads on the CPU (0: leave as is)")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = build_model(args.model, 3, 10, 224).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    stored = torch.randint(0, 256, (args.batch, 3, 256, 256), generator=gen, dtype=torch.uint8).to(device)
    xb = torch.rand(args.batch, 3, 224, 224, generator=gen).to(device)
    yb = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
    aug_gen = torch.Generator().manual_seed(1)
    tv_rrc = v2.RandomResizedCrop(224, antialias=True)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    def augment():  # as TensorBatches.epoch runs it
        out = random_resized_crop(stored.float().div_(255), 224, aug_gen)
        return random_hflip(out, aug_gen)

    as_float = stored.float().div_(255)
    passes = {
        "step": step,
        "augment": augment,
        "rrc": lambda: random_resized_crop(as_float, 224, aug_gen),
        "torchvision_loop": lambda: torch.stack([tv_rrc(img) for img in as_float]),
    }
    times: dict[str, list[float]] = {k: [] for k in passes}
    for fn in passes.values():  # warm-up
        fn()
    for _ in range(args.reps):
        for k, fn in passes.items():
            times[k].append(timed(fn, device))
    paired = {k: statistics.median(a / s for a, s in zip(v, times["step"])) for k, v in times.items()}
    out = {
        "augment_over_step": round(paired["augment"], 4),
        "rrc_over_step": round(paired["rrc"], 4),
        "torchvision_loop_over_rrc": round(
            statistics.median(a / b for a, b in zip(times["torchvision_loop"], times["rrc"])), 3
        ),
        **accuracy(),
        "train_step_s": round(min(times["step"]), 4),
        "augment_s": round(min(times["augment"]), 4),
        "rrc_s": round(min(times["rrc"]), 4),
        "torchvision_loop_s": round(min(times["torchvision_loop"]), 4),
        "model": args.model,
        "batch": args.batch,
        "reps": args.reps,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
