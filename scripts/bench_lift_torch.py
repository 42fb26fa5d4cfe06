#!/usr/bin/env python3
"""PyTorch anchor for lmpseg's lifted-decoder benchmarks (lift BenchmarkLiftDeepLabHead, BenchmarkDilatedConv).

Two computations, the same as the Go benchmarks in lift/bench_torch_test.go:

head: torchvision's DeepLabV3-MobileNetV3-Large classifier as torch.onnx writes it in inference mode
  (every batch norm folded into its convolution, so each conv has a bias, no dropout): ASPP on 960
  channels (a 1x1 branch, three 3x3 branches with dilations 12, 24, 36, a global-pooling branch
  broadcast back), 1x1 projection 1280->256, 3x3 conv 256->256, 1x1 conv 256->21; ReLU after every conv
  but the last. Input 1x960x64x128 (1/16 of 1024x2048), frozen (no input gradient), output the class
  scores at 64x128 (the lifted net with DropFinalResize). One iteration: forward, then backward of
  sum(scores * G) for a fixed random G, i.e. backward with output gradient G, to every parameter.
conv: one 3x3 convolution 256->256 with bias, dilation 12 and padding 12, on 1x256x128x256; one iteration
  is forward and backward with a fixed random output gradient, to the weights, the bias and the input.

The weights are random (seeded normal values, He scale); nothing is downloaded. For each thread count
(torch.set_num_threads) it prints the median and range of wall and CPU (process_time) milliseconds per
iteration, and the process's peak RSS. Run it beside the Go benchmark, on the same machine, close in time:

    /usr/bin/python3 scripts/bench_lift_torch.py --threads 1,2 --iters 3
    go test -run '^$' -bench 'LiftDeepLabHead|DilatedConv' -benchtime 3x -count 3 ./lift/
"""

import argparse
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, k, dil=1):
    c = nn.Conv2d(cin, cout, k, padding=dil * (k // 2), dilation=dil, bias=True)
    nn.init.normal_(c.weight, std=(2.0 / (cin * k * k)) ** 0.5)
    nn.init.normal_(c.bias, std=0.1)
    return c


class Head(nn.Module):
    """DeepLabHead(960, 21) of torchvision with the batch norms folded into the convolutions."""

    def __init__(self, cin=960, mid=256, classes=21, rates=(12, 24, 36)):
        super().__init__()
        self.b0 = conv(cin, mid, 1)
        self.rates = nn.ModuleList(conv(cin, mid, 3, d) for d in rates)
        self.pool = conv(cin, mid, 1)
        self.project = conv(mid * (2 + len(rates)), mid, 1)
        self.c3 = conv(mid, mid, 3)
        self.cls = conv(mid, classes, 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        ys = [F.relu(self.b0(x))] + [F.relu(c(x)) for c in self.rates]
        p = F.relu(self.pool(F.adaptive_avg_pool2d(x, 1)))
        ys.append(F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False))
        y = F.relu(self.project(torch.cat(ys, 1)))
        return self.cls(F.relu(self.c3(y)))


def step(model, x, g):
    model.zero_grad(set_to_none=False)
    if x.grad is not None:
        x.grad.zero_()
    y = model(x)
    y.backward(g)


def bench(name, model, x, threads, iters):
    with torch.no_grad():
        g = torch.randn(model(x).shape, generator=torch.Generator().manual_seed(2))
    for t in threads:
        torch.set_num_threads(t)
        step(model, x, g)  # warm up
        walls, cpus = [], []
        for _ in range(iters):
            w0, c0 = time.perf_counter(), time.process_time()
            step(model, x, g)
            walls.append(1e3 * (time.perf_counter() - w0))
            cpus.append(1e3 * (time.process_time() - c0))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name} threads={t}: wall {statistics.median(walls):.0f} ms (range {min(walls):.0f}-{max(walls):.0f}), "
              f"cpu {statistics.median(cpus):.0f} ms (range {min(cpus):.0f}-{max(cpus):.0f}) per iteration; "
              f"peak RSS so far {rss:.0f} MiB", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated intra-op thread counts")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per thread count")
    ap.add_argument("--only", default="head,conv", help="which benchmarks: head, conv or both")
    args = ap.parse_args()
    threads = [int(v) for v in args.threads.split(",")]
    torch.manual_seed(1)
    print(f"torch {torch.__version__}, mkldnn {torch.backends.mkldnn.is_available()}")
    only = args.only.split(",")
    if "head" in only:
        x = torch.randn(1, 960, 64, 128, generator=torch.Generator().manual_seed(1))
        bench("head", Head(), x, threads, args.iters)
    if "conv" in only:
        x = torch.randn(1, 256, 128, 256, generator=torch.Generator().manual_seed(1)).requires_grad_()
        bench("conv", conv(256, 256, 3, 12), x, threads, args.iters)


if __name__ == "__main__":
    main()
