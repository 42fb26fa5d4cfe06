#!/usr/bin/env python3
"""Compare lmpseg's lifted decoder heads with PyTorch autograd: forward, input gradient, parameter gradients.

Usage: /usr/bin/python3 scripts/check_lift.py [--models NAME,NAME] [--batch N] [--tol 1e-4]
                                               [--perturb REL] [--keep DIR] [--verbose] [--liftgrad BIN]

Needs Debian's python3-torch, python3-torchvision, python3-onnx and python3-numpy, and Go (it builds
scripts/liftgrad). Weights are random (weights=None, weights_backbone=None): nothing is downloaded.

For each torchvision model (deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large and
deeplabv3_resnet50 by default) the script
  1. builds it with random weights, gives its batch norms non-trivial running statistics (four
     training-mode passes over random images of different contrast and brightness, averaged, then
     random jitter) and its
     head's batch norms random scales and shifts;
  2. exports it in eval mode to ONNX with training=TrainingMode.PRESERVE and do_constant_folding=False,
     so that the BatchNormalization nodes and the initializer names (m.classifier....) survive;
  3. computes the backbone's features in torch (DeepLabV3: 'out'; LR-ASPP: 'high' and 'low') for a
     random batch, draws a random output gradient dy, and writes both as raw float32;
  4. runs scripts/liftgrad, which lifts the tail from the tensor feeding the head
     (lift.Options{Threads: 1, InputGrad: true}, the final Resize kept) and runs one training forward
     pass and Backward(dy), in two cases:
       freeze  FreezeBN: batch norms use running statistics; convolution weights and biases train;
       train   batch norms use batch statistics and update their running statistics; gamma and beta
               train too (torch: the head in train mode with its dropout off);
  5. runs the same head in torch, in float64 (the reference) and in float32 (to show float32's own
     noise), on the same float32 features and dy, and compares. Torch's ReLUs take lmpseg's decisions
     (liftgrad writes the input of every Relu of the head): a ReLU input within float32 rounding of
     zero (a few in two million) would otherwise flip a gradient on or off, and after a global pooling
     or through batch statistics one flip reaches every pixel. The script prints how many decisions
     torch's float64 would take differently; the forward comparison covers the values themselves.

The metric, per tensor: max|go - ref| / max|ref|, with ref torch's float64 result (the output, the
gradient of the first input, each parameter's gradient, each batch-norm buffer after the pass). A
model passes when every figure is at most --tol (1e-4). The script exits 1 when any case fails, 2 on
a set-up error. --perturb REL multiplies the head's first convolution weight (all of it) by
(1 + REL) in torch's copy only (not in the ONNX model): a check that the comparison can fail.
"""
import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models.segmentation as seg

from _torchexport import Out  # out["out"]; its ONNX names get the prefix m.

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name -> (constructor, kind, image size H x W)
MODELS = {
    "deeplabv3_mobilenet_v3_large": (seg.deeplabv3_mobilenet_v3_large, "deeplab", (256, 320)),
    "lraspp_mobilenet_v3_large": (seg.lraspp_mobilenet_v3_large, "lraspp", (256, 320)),
    "deeplabv3_resnet50": (seg.deeplabv3_resnet50, "deeplab", (128, 160)),
}

# Torch's head parameter that --perturb changes, and whose convolution's input is the lifted tensor.
FIRST_CONV = {"deeplab": "0.convs.0.0.weight", "lraspp": "cbr.0.weight"}
LOW_CONV = "low_classifier.weight"


def images(n, size, gen):
    """Random images of different contrast and brightness, as a real batch has. Images of one kind
    would give nearly equal pooled features, so that the batch norm after DeepLabV3's global pooling
    would normalise values that differ only in their last digits (see docs/lift-check.md)."""
    x = torch.randn(n, 3, *size, generator=gen)
    s = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    o = torch.rand(n, 1, 1, 1, generator=gen) - 0.5
    return x * s + o


def calibrate(model, size, gen):
    """Gives every batch norm running statistics of images() (cumulative average of four
    training-mode passes, then jitter) and the head's batch norms random scales and shifts."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    moms = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(images(2, size, gen))
        for m, mom in zip(bns, moms):
            m.momentum = mom
            c = m.num_features
            m.running_mean.add_(0.1 * torch.randn(c, generator=gen) * m.running_var.sqrt())
            m.running_var.mul_(0.8 + 0.4 * torch.rand(c, generator=gen))
        for m in model.classifier.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))
    model.eval()


def export(model, size, path):
    x = torch.randn(1, 3, *size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Out(model), x, path, opset_version=17, training=torch.onnx.TrainingMode.PRESERVE,
                          do_constant_folding=False, input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "out": {0: "N", 2: "H", 3: "W"}})


def graph_names(path):
    """Maps each Conv weight initializer of the ONNX model to the Conv's data input, and lists the
    inputs of the head's Relu nodes in graph order (the order torch calls its ReLU modules)."""
    import onnx
    g = onnx.load(path, load_external_data=False).graph
    convs = {n.input[1]: n.input[0] for n in g.node if n.op_type == "Conv"}
    relus = [n.input[0] for n in g.node if n.op_type == "Relu" and n.name.startswith("/m/classifier/")]
    return convs, relus


def head_forward(head, kind, feats, size):
    if kind == "deeplab":
        y = head(feats["out"])
    else:
        y = head({"low": feats["low"], "high": feats["high"]})
    return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


def run_torch(head, kind, feats, dy, size, train, dtype, masks):
    """One forward and backward pass of a copy of head in dtype whose ReLUs let through where masks
    (one per ReLU call, in call order) are true; returns output, input grad, the parameter gradients,
    the buffers after the pass (by torch name) and the count of ReLU inputs whose sign disagrees with
    its mask."""
    h = copy.deepcopy(head).to(dtype)
    h.train(train)
    calls = []

    def relu(mod, inp, out):
        k = len(calls)
        if k >= len(masks) or tuple(masks[k].shape) != tuple(inp[0].shape):
            raise RuntimeError(f"ReLU call {k} with input {list(inp[0].shape)} has no mask")
        mk = torch.from_numpy(masks[k]).to(dtype)
        calls.append(int(((inp[0] > 0).to(dtype) != mk).sum()))
        return inp[0] * mk

    for m in h.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_hook(relu)
    xs = {k: torch.from_numpy(v).to(dtype).requires_grad_(True) for k, v in feats.items()}
    y = head_forward(h, kind, xs, size)
    y.backward(torch.from_numpy(dy).to(dtype))
    first = "out" if kind == "deeplab" else "high"
    grads = {n: p.grad.detach().double().numpy() for n, p in h.named_parameters()}
    bufs = {n: b.detach().double().numpy() for n, b in h.named_buffers() if not n.endswith("num_batches_tracked")}
    if len(calls) != len(masks):
        raise RuntimeError(f"{len(calls)} ReLU calls, {len(masks)} masks")
    return y.detach().double().numpy(), xs[first].grad.double().numpy(), grads, bufs, sum(calls)


def rel(a, ref):
    """max|a - ref| / max|ref| (absolute when ref is all zero)."""
    a, ref = np.asarray(a, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    if a.shape != ref.shape:
        return float("inf")
    d = float(np.max(np.abs(a - ref))) if a.size else 0.0
    s = float(np.max(np.abs(ref))) if ref.size else 0.0
    return d / s if s > 0 else d


def load(dirname, tf):
    return np.fromfile(os.path.join(dirname, tf["file"]), dtype="<f4").reshape(tf["shape"])


def check_model(name, args, work, liftgrad):
    make, kind, size = MODELS[name]
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    model = make(weights=None, weights_backbone=None)
    calibrate(model, size, gen)
    mdir = os.path.join(work, name)
    os.makedirs(mdir, exist_ok=True)
    onnx_path = os.path.join(mdir, "model.onnx")
    t0 = time.time()
    export(model, size, onnx_path)
    convs, relus = graph_names(onnx_path)
    prefix = "m.classifier."
    src = {"out" if kind == "deeplab" else "high": convs[prefix + FIRST_CONV[kind]]}
    if kind == "lraspp":
        src["low"] = convs[prefix + LOW_CONV]

    x = images(args.batch, size, gen)
    with torch.no_grad():
        feats = {k: v.numpy().astype(np.float32) for k, v in model.backbone(x).items() if k in src}
        y0 = model(x)["out"]
    dy = torch.randn(*y0.shape, generator=gen).numpy().astype(np.float32)

    inputs = {}
    for k, v in feats.items():
        f = f"in_{k}.f32"
        v.astype("<f4").tofile(os.path.join(mdir, f))
        inputs[src[k]] = {"file": f, "shape": list(v.shape)}
    dy.astype("<f4").tofile(os.path.join(mdir, "dy.f32"))
    cases = [("freeze", True), ("train", False)]
    manifests = []
    for case, freeze in cases:
        mf = dict(model="model.onnx", **{"from": src["out" if kind == "deeplab" else "high"]}, output="",
                  h=size[0], w=size[1], freeze_bn=freeze, train=True, inputs=inputs,
                  dy={"file": "dy.f32", "shape": list(dy.shape)}, out="go_" + case, dump=relus)
        p = os.path.join(mdir, case + ".json")
        with open(p, "w") as fh:
            json.dump(mf, fh)
        manifests.append(p)
    t1 = time.time()
    subprocess.run([liftgrad] + manifests, check=True)
    t2 = time.time()

    head = model.classifier
    if args.perturb:
        with torch.no_grad():
            dict(head.named_parameters())[FIRST_CONV[kind]].mul_(1 + args.perturb)

    print(f"\n== {name}: image {args.batch}x3x{size[0]}x{size[1]}, features "
          + ", ".join(f"{k} {list(v.shape)}" for k, v in feats.items())
          + f" (export {t1 - t0:.1f}s, lmpseg {t2 - t1:.1f}s)")
    summary = []
    for (case, freeze), mpath in zip(cases, manifests):
        gdir = os.path.join(mdir, "go_" + case)
        with open(os.path.join(gdir, "result.json")) as fh:
            res = json.load(fh)
        # The gradient of a ReLU at an input within rounding of zero depends on which side float32
        # puts it: torch runs with lmpseg's ReLU decisions (its Relu inputs > 0), and the decisions
        # torch's float64 would take differently are counted.
        masks = [load(gdir, tf) > 0 for tf in res["dumps"]]
        nrelu = sum(mk.size for mk in masks)
        ref = run_torch(head, kind, feats, dy, size, not freeze, torch.float64, masks)
        t32 = run_torch(head, kind, feats, dy, size, not freeze, torch.float32, masks)
        rows = [("forward", "output", load(gdir, res["output"]), ref[0], t32[0]),
                ("input grad", res["input_grad"]["name"], load(gdir, res["input_grad"]), ref[1], t32[1])]
        problems = []
        go_params = {}
        for tf in res["params"]:
            go_params[tf["name"]] = load(gdir, tf)
        want = {prefix + n for n, p in head.named_parameters()
                if not (freeze and is_bn_param(head, n))}
        if set(go_params) != want:
            problems.append(f"parameter sets differ: lmpseg only {sorted(set(go_params) - want)}, "
                            f"torch only {sorted(want - set(go_params))}")
        for n in sorted(go_params):
            tn = n[len(prefix):]
            if tn in ref[2]:
                rows.append(("param grad", n, go_params[n], ref[2][tn], t32[2][tn]))
        for tf in res["buffers"]:
            tn = tf["name"][len(prefix):]
            if tn in ref[3]:
                rows.append(("buffer", tf["name"], load(gdir, tf), ref[3][tn], t32[3][tn]))
            else:
                problems.append(f"buffer {tf['name']} unknown to torch")
        worst = {}
        print(f"-- {case}: {'FreezeBN (running statistics)' if freeze else 'batch statistics'}; "
              f"{len(go_params)} parameters; lmpseg: {res['describe']}")
        print(f"   ReLU decisions: {len(masks)} ReLUs, {nrelu} values, {ref[4]} where torch float64 would "
              f"decide otherwise (torch float32: {t32[4]})")
        if args.verbose:
            print(f"   {'kind':<11}{'tensor':<52}{'shape':<20}{'max|ref|':>10}{'lmpseg':>10}{'torch32':>10}")
        for kindname, tname, got, r, r32 in rows:
            d, d32 = rel(got, r), rel(r32, r)
            if np.asarray(got).size != np.asarray(r).size:
                problems.append(f"{tname}: shape {list(np.shape(got))}, torch {list(np.shape(r))}")
            w = worst.get(kindname)
            if w is None or d > w[0]:
                worst[kindname] = (d, tname, d32)
            if args.verbose or d > args.tol:
                mark = "  FAIL" if d > args.tol else ""
                print(f"   {kindname:<11}{tname[-51:]:<52}{str(list(np.shape(r))):<20}"
                      f"{np.max(np.abs(r)):>10.3g}{d:>10.2e}{d32:>10.2e}{mark}")
        for kindname in ("forward", "input grad", "param grad", "buffer"):
            if kindname in worst:
                d, tname, d32 = worst[kindname]
                print(f"   max relative difference {kindname:<11} {d:.2e}   (torch float32: {d32:.2e})   at {tname}")
        for p in problems:
            print("   PROBLEM:", p)
        ok = not problems and all(w[0] <= args.tol for w in worst.values())
        summary.append((name, case, worst, ok))
    return summary


def is_bn_param(head, name):
    mod = name.rsplit(".", 1)[0]
    return isinstance(dict(head.named_modules())[mod], torch.nn.BatchNorm2d)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, of: " + ", ".join(MODELS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="scale the head's first convolution weight by 1+REL in torch's copy (shows the check trips)")
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temporary folder)")
    ap.add_argument("--verbose", action="store_true", help="print every tensor, not only failures")
    ap.add_argument("--liftgrad", help="a liftgrad binary built beforehand (default: go build ./scripts/liftgrad)")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in MODELS:
            print(f"check_lift: unknown model {n!r} (have {', '.join(MODELS)})", file=sys.stderr)
            return 2
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    work = args.keep or tempfile.mkdtemp(prefix="check_lift_")
    os.makedirs(work, exist_ok=True)
    try:
        liftgrad = args.liftgrad
        if not liftgrad:
            liftgrad = os.path.join(work, "liftgrad")
            subprocess.run(["go", "build", "-o", liftgrad, "./scripts/liftgrad"], cwd=ROOT, check=True)
        summary = []
        for n in names:
            summary += check_model(n, args, work, liftgrad)
    except subprocess.CalledProcessError as e:
        print(f"check_lift: {e}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n== summary: max relative difference vs torch float64 (tolerance {args.tol:g})")
    print(f"{'model':<30}{'case':<8}{'forward':>10}{'input':>10}{'params':>10}{'buffers':>10}  result")
    bad = False
    for name, case, worst, ok in summary:
        f = [worst.get(k, (float("nan"),))[0] for k in ("forward", "input grad", "param grad", "buffer")]
        print(f"{name:<30}{case:<8}" + "".join(f"{v:>10.2e}" for v in f) + ("  ok" if ok else "  FAIL"))
        bad = bad or not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
