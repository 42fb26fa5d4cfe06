#!/usr/bin/env python3
"""Export torchvision segmentation models (random weights) to ONNX for lmpseg's real-model checks.

Usage: /usr/bin/python3 scripts/export-torchvision.py OUTDIR [--opset 13] [--models lraspp,deeplabv3,fcn]
Needs Debian's python3-torch and python3-torchvision; the project's tests do not.
Inputs are named "image" with dynamic batch/height/width; the output "out" is the model's logits.
"""
import argparse
import os

import torch
import torchvision.models.segmentation as seg

from _torchexport import Out


MODELS = {
    "lraspp": lambda: seg.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21),
    "deeplabv3": lambda: seg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=False),
    "fcn": lambda: seg.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=False),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--models", default="lraspp,deeplabv3,fcn")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(0)
    for name in a.models.split(","):
        m = Out(MODELS[name]()).eval()
        x = torch.randn(1, 3, 256, 512)
        path = os.path.join(a.out, f"{name}_opset{a.opset}.onnx")
        torch.onnx.export(m, x, path, opset_version=a.opset, input_names=["image"], output_names=["out"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "out": {0: "batch", 2: "height", 3: "width"}})
        print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
