#!/usr/bin/env python3
"""Export a zoo of torchvision models (random weights) to ONNX, as users bring them, for scripts/zoo.sh.

Usage: /usr/bin/python3 scripts/zoo.py OUTDIR [--only NAME,NAME] [--big] [--heads] [--list]

Needs Debian's python3-torch, python3-torchvision and python3-onnx (apt-get install python3-torch
python3-torchvision python3-onnx); the project's tests do not. Weights are random (weights=None,
weights_backbone=None): nothing is downloaded. Each model is written as OUTDIR/NAME.onnx, and
OUTDIR/NAME.json says how it was made (input name, layout, dtype, shape, opset, what the output is).
ResNet-50 models are about 100-170 MB each: write them outside the repository (/tmp/zoo/models).
--big adds fcn_resnet101 and deeplabv3_resnet101. --heads exports only the dynamic opset-17 and opset-11 forms of
torchvision's six segmentation models (the four and the two ResNet-101 ones), what lift/zoo_test.go and
scripts/zoo_lift.sh need.

Variants:
  SEG_opsetK_dyn    torchvision segmentation model, out["out"], dynamic batch/height/width
  SEG_opsetK_fixed  the same with a fixed 1x3x512x512 input (traced at that size)
  SEG_aux           returns (out["aux"], out["out"]): the first output is the auxiliary head
  BACKBONE_*        classification backbones as feature extractors (an NCHW feature map out)
  *_nhwc            float input [N,H,W,3], permuted to NCHW inside the graph
  *_nhwc_uint8      uint8 input [N,H,W,3] in 0..255, /255 and ImageNet normalisation inside the graph
  *_fp16            the whole model in float16 (input and output float16), if torch can trace it
"""
import argparse
import json
import os
import sys
import time
import traceback
import warnings

import torch
import torchvision
import torchvision.models as tvm
import torchvision.models.segmentation as seg

from _torchexport import MEAN, STD, AuxOut, Out

TRACE = (256, 256)  # small tracing size keeps the export fast
FIXED = (512, 512)


class NHWC(torch.nn.Module):
    """Takes a float [N,H,W,3] image and permutes it to NCHW inside."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.permute(0, 3, 1, 2))


class NHWCUint8(torch.nn.Module):
    """Takes a uint8 [N,H,W,3] image in 0..255 and normalises it (ImageNet) inside."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).float() / 255.0
        return self.m((x - self.mean) / self.std)


class ResNetMap(torch.nn.Module):
    """A torchvision ResNet up to layer (3 or 4), returning that NCHW map (no pooling, no fc)."""

    def __init__(self, m, upto):
        super().__init__()
        layers = [m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3]
        if upto == 4:
            layers.append(m.layer4)
        self.body = torch.nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class Features(torch.nn.Module):
    """m.features of a torchvision classifier: its last NCHW feature map."""

    def __init__(self, m):
        super().__init__()
        self.f = m.features

    def forward(self, x):
        return self.f(x)


def segm(fn, **kw):
    return lambda: fn(weights=None, weights_backbone=None, num_classes=21, **kw)


SEG = {
    "lraspp_mobilenet_v3_large": segm(seg.lraspp_mobilenet_v3_large),
    "deeplabv3_mobilenet_v3_large": segm(seg.deeplabv3_mobilenet_v3_large, aux_loss=False),
    "fcn_resnet50": segm(seg.fcn_resnet50, aux_loss=False),
    "deeplabv3_resnet50": segm(seg.deeplabv3_resnet50, aux_loss=False),
}
SEG_BIG = {
    "fcn_resnet101": segm(seg.fcn_resnet101, aux_loss=False),
    "deeplabv3_resnet101": segm(seg.deeplabv3_resnet101, aux_loss=False),
}

# The six segmentation models, as lift/zoo_test.go's zooHeads names them.
HEADS = list(SEG) + list(SEG_BIG)


def zoo(big):
    """Returns the entries in the order zoo.sh should run them (small models first).

    Each entry: name -> dict(make, opset, dynamic, size, layout, dtype, input, output, kind).
    input/output None gives names like torch's defaults ("input.1", a number for the output), as a
    user's export might.
    """
    z = {}

    def add(name, make, opset=17, dynamic=True, size=TRACE, layout="nchw", dtype="float32",
            input="image", output=("out",), kind="segmentation", note=""):
        z[name] = dict(make=make, opset=opset, dynamic=dynamic, size=size, layout=layout, dtype=dtype,
                       input=input, output=output, kind=kind, note=note)

    mobile = ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"]
    heavy = ["fcn_resnet50", "deeplabv3_resnet50"] + (list(SEG_BIG) if big else [])
    allseg = dict(SEG, **SEG_BIG)

    def seg_variants(names):
        for s in names:
            f = allseg[s]
            for op in (11, 17):
                add(f"{s}_opset{op}_dyn", (lambda f=f: Out(f())), opset=op,
                    input="image" if op == 17 else None, output=("out",) if op == 17 else None)
                add(f"{s}_opset{op}_fixed", (lambda f=f: Out(f())), opset=op, dynamic=False, size=FIXED,
                    note="fixed 1x3x512x512")

    seg_variants(mobile)
    add("deeplabv3_mobilenet_v3_large_aux",
        lambda: AuxOut(seg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21,
                                                        aux_loss=True)),
        output=("aux", "out"), note="outputs (aux, out)")
    lr = SEG["lraspp_mobilenet_v3_large"]
    add("lraspp_mobilenet_v3_large_nhwc", lambda: NHWC(Out(lr())), layout="nhwc", note="float [N,H,W,3]")
    add("lraspp_mobilenet_v3_large_nhwc_uint8", lambda: NHWCUint8(Out(lr())), layout="nhwc", dtype="uint8",
        note="uint8 [N,H,W,3] 0..255, normalised inside")
    add("lraspp_mobilenet_v3_large_fp16", lambda: Out(lr()), dtype="float16", note="float16 model")

    # Classification backbones as feature extractors.
    add("mobilenet_v3_small_features", lambda: Features(tvm.mobilenet_v3_small(weights=None)),
        output=("features",), kind="backbone")
    add("resnet18_layer3", lambda: ResNetMap(tvm.resnet18(weights=None), 3), output=("layer3",),
        kind="backbone", note="stride 16")
    add("resnet18_layer4", lambda: ResNetMap(tvm.resnet18(weights=None), 4), input=None, output=None,
        kind="backbone", note="stride 32, torch's default names")
    add("resnet18_classifier", lambda: tvm.resnet18(weights=None), output=("logits",), kind="classifier",
        note="the full classifier, output [N,1000]; train on an intermediate tensor")
    add("efficientnet_b0_features", lambda: Features(tvm.efficientnet_b0(weights=None)), output=("features",),
        kind="backbone")
    add("convnext_tiny_features", lambda: Features(tvm.convnext_tiny(weights=None)), output=("features",),
        kind="backbone")
    add("convnext_tiny_features_opset11", lambda: Features(tvm.convnext_tiny(weights=None)), opset=11,
        output=("features",), kind="backbone")

    seg_variants(heavy)
    add("fcn_resnet50_aux",
        lambda: AuxOut(seg.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)),
        output=("aux", "out"), note="outputs (aux, out)")
    return z


def export(name, e, outdir):
    torch.manual_seed(0)
    m = e["make"]().eval()
    if e["dtype"] == "float16":
        m = m.half()
    h, w = e["size"]
    n = 1
    if e["layout"] == "nhwc":
        shape = (n, h, w, 3)
    else:
        shape = (n, 3, h, w)
    if e["dtype"] == "uint8":
        x = torch.randint(0, 256, shape, dtype=torch.uint8)
    elif e["dtype"] == "float16":
        x = torch.randn(shape).half()
    else:
        x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)  # fails here when torch cannot run the model this way (float16 on CPU)
    outs = y if isinstance(y, tuple) else (y,)
    path = os.path.join(outdir, name + ".onnx")
    kw = dict(opset_version=e["opset"], do_constant_folding=True)
    in_name = e["input"] or "input.1"
    onames = list(e["output"]) if e["output"] else [f"zoo_output{i}" for i in range(len(outs))]
    kw["input_names"] = [in_name]
    kw["output_names"] = onames
    if e["dynamic"]:
        if e["layout"] == "nhwc":
            dyn = {in_name: {0: "batch", 1: "height", 2: "width"}}
        else:
            dyn = {in_name: {0: "batch", 2: "height", 3: "width"}}
        for o, t in zip(onames, outs):
            if t.dim() == 4:
                dyn[o] = {0: "batch", 2: "h", 3: "w"}
            else:
                dyn[o] = {0: "batch"}
        kw["dynamic_axes"] = dyn
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        kw["dynamo"] = False
    t0 = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), path, **kw)
    import onnx
    mp = onnx.load(path)
    if not e["output"]:
        # torch refuses numeric output names, but its default names are numbers: rename afterwards
        ren = {o: str(501 + i) for i, o in enumerate(onames)}
        for n in mp.graph.node:
            for i, v in enumerate(n.output):
                n.output[i] = ren.get(v, v)
            for i, v in enumerate(n.input):
                n.input[i] = ren.get(v, v)
        for o in mp.graph.output:
            o.name = ren.get(o.name, o.name)
        onnx.save(mp, path)
    onnx.checker.check_model(mp)
    info = dict(name=name, kind=e["kind"], opset=e["opset"], dynamic=e["dynamic"], layout=e["layout"],
                dtype=e["dtype"], trace_shape=list(shape), note=e["note"],
                inputs=[i.name for i in mp.graph.input], outputs=[o.name for o in mp.graph.output],
                output_shapes=[list(t.shape) for t in outs], bytes=os.path.getsize(path),
                export_seconds=round(time.time() - t0, 1),
                torch=torch.__version__, torchvision=torchvision.__version__, onnx=onnx.__version__)
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def to_float16(src, dst):
    """Writes the float32 ONNX model src as a float16 one at dst: float initializers, constants, Cast
    targets, graph inputs and outputs become float16; Resize's roi and scales stay float32."""
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    mp = onnx.load(src)
    g = mp.graph
    keep = set()
    for n in g.node:
        if n.op_type == "Resize":
            keep.update(n.input[1:3])
    for i, t in enumerate(g.initializer):
        if t.data_type == TensorProto.FLOAT and t.name not in keep:
            g.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    for n in g.node:
        for a in n.attribute:
            if n.op_type in ("Constant", "ConstantOfShape") and a.name == "value" and a.t.data_type == TensorProto.FLOAT \
                    and not (set(n.output) & keep):
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
            if n.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
    for v in list(g.input) + list(g.output):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
    del g.value_info[:]
    onnx.checker.check_model(mp)
    onnx.save(mp, dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="", help="comma-separated names (default: all)")
    ap.add_argument("--big", action="store_true", help="also the ResNet-101 models")
    ap.add_argument("--heads", action="store_true",
                    help="only the six segmentation models, dynamic, opset 17 and 11 (implies --big)")
    ap.add_argument("--list", action="store_true", help="print the names in run order and exit")
    ap.add_argument("--force", action="store_true", help="export again models already in OUT")
    a = ap.parse_args()
    z = zoo(a.big or a.heads)
    if a.heads:
        z = {k: v for k, v in z.items() if any(k == f"{s}_opset{op}_dyn" for s in HEADS for op in (17, 11))}
    if a.list:
        print("\n".join(z))
        return
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    names = [s for s in a.only.split(",") if s] or list(z)
    bad = 0
    for name in names:
        if name not in z:
            sys.exit(f"zoo.py: unknown model {name!r}; --list names them")
        if not a.force and os.path.exists(os.path.join(a.out, name + ".json")):
            print(f"{name}: exists")
            continue
        try:
            info = export(name, z[name], a.out)
            print(f"{name}: {info['bytes'] / 1e6:.1f} MB, inputs {info['inputs']}, outputs {info['outputs']}, "
                  f"{info['export_seconds']} s", flush=True)
        except Exception as ex:  # a model torch cannot export is recorded, not fatal
            if z[name]["dtype"] == "float16":
                # torch 1.13 cannot run conv in float16 on the CPU, so it cannot trace the model: export
                # it in float32 and convert the file.
                try:
                    e = dict(z[name], dtype="float32")
                    info = export(name + ".f32", e, a.out)
                    to_float16(os.path.join(a.out, name + ".f32.onnx"), os.path.join(a.out, name + ".onnx"))
                    os.remove(os.path.join(a.out, name + ".f32.onnx"))
                    os.remove(os.path.join(a.out, name + ".f32.json"))
                    first = str(ex).strip().splitlines()[0]
                    info.update(name=name, dtype="float16", bytes=os.path.getsize(os.path.join(a.out, name + ".onnx")),
                                note=f"torch cannot trace it in float16 on the CPU ({type(ex).__name__}: {first}); "
                                     "exported in float32 and converted by scripts/zoo.py to_float16")
                    with open(os.path.join(a.out, name + ".json"), "w") as f:
                        json.dump(info, f, indent=1)
                    print(f"{name}: converted from float32: {info['note']}", flush=True)
                    continue
                except Exception as ex2:
                    ex = ex2
            bad += 1
            line = f"{type(ex).__name__}: {str(ex).strip().splitlines()[0] if str(ex).strip() else ''}"
            with open(os.path.join(a.out, name + ".skip"), "w") as f:
                f.write(line + "\n\n" + traceback.format_exc())
            print(f"{name}: SKIPPED: {line}", flush=True)
    print(f"zoo.py: {len(names) - bad} exported, {bad} skipped", flush=True)


if __name__ == "__main__":
    main()
