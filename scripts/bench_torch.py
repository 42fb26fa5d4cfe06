#!/usr/bin/env python3
"""PyTorch anchor for lmpseg's head-step benchmark (graph BenchmarkStepFused/Cityscapes).

The same step as the Go benchmark: features 1x256x128x256 (seeded normal values), a linear head
(1x1 convolution with bias) to 19 classes, x8 bilinear upsampling (align_corners=False, as
lmpseg's resize) to 1024x2048, pixel cross-entropy averaged over the labelled pixels (random labels,
5% of them the ignore label 255), backward to the head's parameters (the features need no gradient:
the backbone is frozen). Prints, per thread count, the median wall and CPU milliseconds of a step.

Run it beside the Go benchmark, on the same machine at the same time:

    /usr/bin/python3 scripts/bench_torch.py --threads 1,2 --steps 5
    go test -run '^$' -bench 'StepFused/Cityscapes' -benchtime 5x ./graph/

Debian's python3-torch (1.13, CPU) is enough; nothing else is needed.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def step(conv, feat, labels, size):
    conv.zero_grad(set_to_none=False)
    logits = conv(feat)
    up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    loss = F.cross_entropy(up, labels, ignore_index=255, reduction="mean")
    loss.backward()
    return loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per thread count")
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--classes", type=int, default=19)
    ap.add_argument("--size", default="1024x2048", help="label resolution HxW (features at 1/8)")
    args = ap.parse_args()
    H, W = (int(v) for v in args.size.split("x"))
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(1, args.channels, H // 8, W // 8, generator=g)
    labels = torch.randint(0, args.classes, (1, H, W), generator=g)
    labels[torch.rand(1, H, W, generator=g) < 0.05] = 255
    conv = torch.nn.Conv2d(args.channels, args.classes, 1, bias=True)
    print(f"torch {torch.__version__}, features {list(feat.shape)} -> {args.classes} classes at {H}x{W}")
    for t in (int(v) for v in args.threads.split(",")):
        torch.set_num_threads(t)
        step(conv, feat, labels, (H, W))  # warm up
        walls, cpus = [], []
        for _ in range(args.steps):
            w0, c0 = time.perf_counter(), time.process_time()
            step(conv, feat, labels, (H, W))
            walls.append(1e3 * (time.perf_counter() - w0))
            cpus.append(1e3 * (time.process_time() - c0))
        print(f"threads={t}: wall {statistics.median(walls):.1f} ms (min {min(walls):.1f}), "
              f"cpu {statistics.median(cpus):.1f} ms per step")


if __name__ == "__main__":
    main()
