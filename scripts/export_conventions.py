#!/usr/bin/env python3
"""Export small ONNX models of each output convention lmpseg eval --model reads, for docs/conventions.md.

Usage:
  /usr/bin/python3 scripts/export_conventions.py export OUTDIR [--calib IMAGES] [--only NAME,NAME] [--list]
  /usr/bin/python3 scripts/export_conventions.py datasets SRC OUTROOT
  /usr/bin/python3 scripts/export_conventions.py reference OUTDIR/NAME.pt IMAGES PREDDIR [--threshold T]
  /usr/bin/python3 scripts/export_conventions.py compare A.json B.json [--block]

Needs Debian's python3-torch, python3-torchvision and python3-onnx; weights are random (torch seed 0,
weights=None), nothing is downloaded. Every model is traced at 128x256 (the synthetic dataset's size)
with dynamic batch, height and width, opset 17, and written as OUTDIR/NAME.onnx with OUTDIR/NAME.json
(what it is, its outputs and their shapes at 128x256) and OUTDIR/NAME.pt (the torch module, for reference).

export      writes the models (list them with --list). With --calib IMAGES (the synthetic train images) the
            random networks are calibrated first: batch-norm statistics from one pass over IMAGES, and each
            score channel less its median there, so that predictions vary over the image instead of being
            one class everywhere (random torchvision networks in eval mode predict a single class).
datasets    makes, from the synthetic dataset's val split SRC (lmpseg synth), three copies under OUTROOT:
            bin (labels: 1 where SRC is "building", else 0; classes background, foreground), rzl (labels
            shifted by one, 0 a void class, the top 16 rows void: 13 classes, for --class-map
            reduce-zero-label) and void (SRC's labels with the same top 16 rows set to 255, ignore).
reference   runs the torch module NAME.pt on the images of IMAGES (ImageNet normalisation, as lmpseg's
            default preprocessing) and reads its output by the convention it was exported with, then
            counts the pixels where lmpseg predict's PREDDIR/IMAGE_labels.png says otherwise.
compare     says whether two lmpseg eval --json reports have the same confusion matrix; --block
            compares A's matrix with B's rows and columns 1.. (B evaluated with reduce-zero-label).
"""
import argparse
import glob
import json
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.models.segmentation as seg

from _torchexport import MEAN, STD, AuxOut, Out

H, W = 128, 256
OPSET = 17
K = 12  # the synthetic dataset's classes
FG = 2  # "building": the binary dataset's foreground


class Centered(torch.nn.Module):
    """m's outputs less a per-channel constant c0, c1, ... that calibrate sets to the median of each
    channel over the calibration images, so that random weights give varied, balanced predictions
    (a binary logit is positive on about half the pixels) instead of one class everywhere."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        y = self.m(x)
        ys = y if isinstance(y, tuple) else (y,)
        ys = tuple(t - getattr(self, f"c{i}") if hasattr(self, f"c{i}") else t for i, t in enumerate(ys))
        return ys if isinstance(y, tuple) else ys[0]


class Small(torch.nn.Module):
    """A three-convolution net with k output channels at stride 4 (no upsampling)."""

    def __init__(self, k):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.c3 = torch.nn.Conv2d(32, k, 1)

    def forward(self, x):
        return self.c3(F.relu(self.c2(F.relu(self.c1(x)))))


class FullRes(torch.nn.Module):
    """Upsamples m's output to the input's size (bilinear, as torchvision's heads do)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return F.interpolate(self.m(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


class ToNHWC(torch.nn.Module):
    """Permutes m's NCHW scores to channels-last [N,H,W,C], as a TensorFlow model's are."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x).permute(0, 2, 3, 1)


class Binary(torch.nn.Module):
    """A one-logit net z (full resolution) read as mode says: sigmoid -> sigmoid(z) [N,1,H,W];
    logit -> z; two -> the logits [0, z] [N,2,H,W] (softmax class 1 where sigmoid(z) > 0.5)."""

    def __init__(self, mode):
        super().__init__()
        self.z = Centered(FullRes(Small(1)))
        self.mode = mode

    def forward(self, x):
        z = self.z(x)
        if self.mode == "sigmoid":
            return torch.sigmoid(z)
        if self.mode == "two":
            return torch.cat([z - z, z], 1)
        return z


class SmallAux(torch.nn.Module):
    """(aux [N,1,H,W] edge logit, out [N,12,H,W] scores): a one-channel auxiliary head first."""

    def __init__(self):
        super().__init__()
        self.main = FullRes(Small(K))
        self.edge = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x):
        return self.edge(x), self.main(x)


class OnlyMain(torch.nn.Module):
    """The second output of m alone: m's main output without its auxiliary head's (same weights when
    built under the same seed and calibrated alike)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)[1]


# PERM[j] is the channel of the 21-class model that holds the 12-class model's class j (5 is prime to 21).
PERM = [(5 * j + 3) % 21 for j in range(K)]


class Spread21(torch.nn.Module):
    """21 channels from m's 12: channel PERM[j] is class j, the other 9 are below every score (never
    the argmax). With the map PERM[j] -> j it must evaluate exactly as m."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        src = [K] * 21
        for j, c in enumerate(PERM):
            src[c] = j
        self.register_buffer("src", torch.tensor(src))

    def forward(self, x):
        y = self.m(x)
        low = y.min(dim=1, keepdim=True).values - 10
        return torch.index_select(torch.cat([y, low], 1), 1, self.src)


def lraspp(k):
    return seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=k)


def dlv3_aux(k):
    return seg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=k, aux_loss=True)


# name -> (make, output names (None: torch's default numbers), layout of each output, how to read it, note)
MODELS = {
    "scores_nchw": (lambda: Centered(Out(lraspp(K))), ["out"], ["nchw"], "scores", "LR-ASPP, 12 classes, NCHW"),
    "scores_nhwc": (lambda: ToNHWC(Centered(Out(lraspp(K)))), ["out"], ["nhwc"], "scores",
                    "the same LR-ASPP with its logits permuted to [N,H,W,12]"),
    "small_nchw": (lambda: Centered(Small(K)), ["logits"], ["nchw"], "scores", "3-conv net, [N,12,H/4,W/4]"),
    "small_nhwc": (lambda: ToNHWC(Centered(Small(K))), ["logits"], ["nhwc"], "scores",
                   "the same net permuted to [N,H/4,W/4,12]"),
    "binary_sigmoid": (lambda: Binary("sigmoid"), ["prob"], ["nchw"], "sigmoid", "[N,1,H,W] sigmoid"),
    "binary_logit": (lambda: Binary("logit"), ["logit"], ["nchw"], "logit", "[N,1,H,W] logit, no sigmoid"),
    "binary_two": (lambda: Binary("two"), ["logits"], ["nchw"], "scores", "[N,2,H,W] logits [0, z]"),
    "binary_sigmoid_s4": (lambda: torch.nn.Sequential(Centered(Small(1)), torch.nn.Sigmoid()), ["prob"], ["nchw"], "sigmoid",
                          "[N,1,H/4,W/4] sigmoid, upsampled by lmpseg"),
    "binary_logit_s4": (lambda: Centered(Small(1)), ["logit"], ["nchw"], "logit", "[N,1,H/4,W/4] logit, upsampled by lmpseg"),
    "aux_named": (lambda: Centered(AuxOut(dlv3_aux(K))), ["aux", "out"], ["nchw", "nchw"], "scores@1",
                  "DeepLabV3-MobileNetV3 aux_loss=True: (aux [N,12,H,W], out [N,12,H,W])"),
    "aux_numbered": (lambda: Centered(AuxOut(dlv3_aux(K))), None, ["nchw", "nchw"], "scores@1",
                     "the same with torch's default output names"),
    "aux_main_only": (lambda: OnlyMain(Centered(AuxOut(dlv3_aux(K)))), ["out"], ["nchw"], "scores", "the same network, out only"),
    "aux1_named": (lambda: Centered(SmallAux()), ["aux", "out"], ["nchw", "nchw"], "scores@1",
                   "(aux [N,1,H,W] edge logit, out [N,12,H,W])"),
    "aux1_main_only": (lambda: OnlyMain(Centered(SmallAux())), ["out"], ["nchw"], "scores", "aux1_named's out only"),
    "classes21": (lambda: Centered(Out(lraspp(21))), ["out"], ["nchw"], "scores", "LR-ASPP, 21 classes (VOC's count)"),
    "spread21": (lambda: Spread21(Centered(Out(lraspp(K)))), ["out"], ["nchw"], "scores",
                 "scores_nchw's 12 classes spread over 21 channels (PERM), the rest never chosen"),
}


def load_images(folder):
    """The png images of folder as one normalised NCHW batch (ImageNet mean and std on 0..1 RGB, as
    lmpseg's default preprocessing for a model without lmpseg metadata)."""
    from PIL import Image
    xs = []
    for p in sorted(glob.glob(os.path.join(folder, "*.png"))):
        xs.append(normalise(np.array(Image.open(p).convert("RGB"))))
    if not xs:
        sys.exit(f"export_conventions.py: no png images in {folder}")
    return torch.cat(xs)


def normalise(img):
    x = torch.tensor(img, dtype=torch.float32).permute(2, 0, 1)[None] / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def calibrate(m, x):
    """Sets the batch-norm statistics of the random network m to those of batch x (one pass in training
    mode, cumulative averages), then each Centered module's constants to its channels' medians on x."""
    bns = [b for b in m.modules() if isinstance(b, torch.nn.modules.batchnorm._BatchNorm)]
    for b in bns:
        b.reset_running_stats()
        b.momentum = None
    with torch.no_grad():
        if bns:
            m.train()
            m(x)
        m.eval()
        seen = {}
        hooks = [c.register_forward_hook(lambda mod, inp, out: seen.setdefault(mod, out))
                 for c in m.modules() if isinstance(c, Centered)]
        m(x)
        for h in hooks:
            h.remove()
        for c, y in seen.items():
            for i, t in enumerate(y if isinstance(y, tuple) else (y,)):
                med = t.transpose(0, 1).reshape(t.shape[1], -1).median(dim=1).values
                c.register_buffer(f"c{i}", med.view(1, -1, 1, 1))
    return m


def build(name, calib):
    """Model name with random weights (seed 0), calibrated on the batch calib (None: not calibrated)."""
    torch.manual_seed(0)
    m = MODELS[name][0]().eval()
    if calib is not None:
        calibrate(m, calib)
    return m


def export(name, outdir, calib):
    make, onames, layouts, how, note = MODELS[name]
    m = build(name, calib)
    x = torch.randn(1, 3, H, W)
    with torch.no_grad():
        y = m(x)
    outs = y if isinstance(y, tuple) else (y,)
    names = onames or [f"conv_output{i}" for i in range(len(outs))]
    dyn = {"image": {0: "batch", 2: "height", 3: "width"}}
    for o, lay in zip(names, layouts):
        dyn[o] = {0: "batch", 2: "h", 3: "w"} if lay == "nchw" else {0: "batch", 1: "h", 2: "w"}
    path = os.path.join(outdir, name + ".onnx")
    kw = dict(opset_version=OPSET, do_constant_folding=True, input_names=["image"], output_names=names,
              dynamic_axes=dyn)
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kw["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), path, **kw)
    import onnx
    mp = onnx.load(path)
    if onames is None:
        # torch's default output names are numbers, which export refuses as names: rename afterwards
        ren = {o: str(901 + i) for i, o in enumerate(names)}
        for n in mp.graph.node:
            n.output[:] = [ren.get(v, v) for v in n.output]
            n.input[:] = [ren.get(v, v) for v in n.input]
        for o in mp.graph.output:
            o.name = ren.get(o.name, o.name)
        onnx.save(mp, path)
    onnx.checker.check_model(mp)
    torch.save(m, os.path.join(outdir, name + ".pt"))  # for reference: the same module, calibrated
    info = dict(name=name, note=note, read=how, opset=OPSET, trace=[1, 3, H, W], calibrated=calib is not None,
                outputs=[o.name for o in mp.graph.output], output_shapes=[list(t.shape) for t in outs],
                layouts=layouts, bytes=os.path.getsize(path), torch=torch.__version__)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def cmd_export(a):
    if a.list:
        for n, v in MODELS.items():
            print(f"{n}: {v[4]}")
        return
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(2)
    calib = load_images(a.calib) if a.calib else None
    for name in [s for s in a.only.split(",") if s] or list(MODELS):
        if name not in MODELS:
            sys.exit(f"export_conventions.py: unknown model {name!r}; --list names them")
        info = export(name, a.out, calib)
        print(f"{name}: outputs {info['outputs']} {info['output_shapes']} ({info['note']})", flush=True)


def cmd_datasets(a):
    from PIL import Image
    src = a.src
    classes = open(os.path.join(src, "classes.txt")).read().split()
    if len(classes) != K:
        sys.exit(f"export_conventions.py: {src} has {len(classes)} classes, want {K} (lmpseg synth)")
    kinds = {"bin": ["background", "foreground"], "rzl": ["void"] + classes, "void": classes}
    for kind, names in kinds.items():
        d = os.path.join(a.outroot, kind)
        os.makedirs(os.path.join(d, "images"), exist_ok=True)
        os.makedirs(os.path.join(d, "labels"), exist_ok=True)
        with open(os.path.join(d, "classes.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
        for p in sorted(glob.glob(os.path.join(src, "labels", "*.png"))):
            base = os.path.basename(p)
            lab = np.array(Image.open(p)).astype(np.int32)
            if kind == "bin":
                out = np.where(lab == 255, 255, (lab == FG).astype(np.int32))
            elif kind == "rzl":
                out = np.where(lab == 255, 0, lab + 1)
                out[:16] = 0
            else:
                out = lab.copy()
                out[:16] = 255
            Image.fromarray(out.astype(np.uint8)).save(os.path.join(d, "labels", base))
            img = os.path.join(d, "images", base)
            if not os.path.exists(img):
                os.symlink(os.path.abspath(os.path.join(src, "images", base)), img)
        print(f"{d}: {len(names)} classes")


def predict_torch(m, name, img, threshold):
    """The label map model m (of kind name) gives image img (H x W x 3 uint8), read by its convention."""
    how = MODELS[name][3]
    layouts = MODELS[name][2]
    x = normalise(img)
    with torch.no_grad():
        y = m(x)
    i = 0
    if "@" in how:
        how, i = how.split("@")
        i = int(i)
        y = y[i]
    if layouts[i] == "nhwc":
        y = y.permute(0, 3, 1, 2)
    h, w = img.shape[:2]
    if y.shape[-2:] != (h, w):
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
    if how in ("sigmoid", "logit"):
        t = threshold if threshold is not None else (0.5 if how == "sigmoid" else 0.0)
        return (y[0, 0] > t).numpy().astype(np.int32)
    return y[0].argmax(0).numpy().astype(np.int32)


def cmd_reference(a):
    from PIL import Image
    torch.set_num_threads(2)
    name = os.path.splitext(os.path.basename(a.model))[0]
    m = torch.load(a.model)
    total = bad = 0
    for p in sorted(glob.glob(os.path.join(a.images, "*.png"))):
        img = np.array(Image.open(p).convert("RGB"))
        ref = predict_torch(m, name, img, a.threshold)
        stem = os.path.splitext(os.path.basename(p))[0]
        got = np.array(Image.open(os.path.join(a.preddir, stem + "_labels.png"))).astype(np.int32)
        if got.shape != ref.shape:
            sys.exit(f"{stem}: lmpseg's labels are {got.shape}, torch's {ref.shape}")
        d = int((got != ref).sum())
        total += ref.size
        bad += d
        print(f"{stem}: {d} of {ref.size} pixels differ; torch classes {np.unique(ref).tolist()}")
    print(f"{name}: {bad} of {total} pixels differ from torch ({100 * bad / max(total, 1):.4f}%)")


def cmd_compare(a):
    ca = np.array(json.load(open(a.a))["confusion"], dtype=np.int64)
    cb = np.array(json.load(open(a.b))["confusion"], dtype=np.int64)
    if a.block:
        if cb[0].sum() or cb[:, 0].sum():
            print(f"{a.b}: row or column 0 is not empty: {cb[0].sum()} labelled 0, {cb[:, 0].sum()} predicted 0")
        cb = cb[1:, 1:]
    if ca.shape != cb.shape:
        print(f"DIFFERENT shapes: {ca.shape} and {cb.shape}")
        sys.exit(1)
    d = int(np.abs(ca - cb).sum())
    if d == 0:
        print(f"IDENTICAL confusion matrices ({ca.shape[0]}x{ca.shape[1]}, {int(ca.sum())} pixels)")
        return
    print(f"DIFFERENT: {d // 2} pixels move between cells (of {int(ca.sum())}); "
          f"diagonal {int(np.trace(ca))} vs {int(np.trace(cb))}")
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("out", nargs="?", default="")
    e.add_argument("--only", default="")
    e.add_argument("--list", action="store_true")
    e.add_argument("--calib", default="", help="folder of png images to calibrate the random networks on")
    d = sub.add_parser("datasets")
    d.add_argument("src")
    d.add_argument("outroot")
    r = sub.add_parser("reference")
    r.add_argument("model", help="OUTDIR/NAME.pt written by export")
    r.add_argument("images")
    r.add_argument("preddir")
    r.add_argument("--threshold", type=float)
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--block", action="store_true")
    a = ap.parse_args()
    {"export": cmd_export, "datasets": cmd_datasets, "reference": cmd_reference, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
