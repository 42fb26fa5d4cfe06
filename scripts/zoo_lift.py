#!/usr/bin/env python3
"""Helpers of scripts/zoo_lift.sh (Debian's python3 with python3-onnx, python3-numpy, python3-pil).

Usage:
  zoo_lift.py from MODEL.onnx       print the decoder input of a torchvision segmentation model: the
                                    tensor its classifier reads (the first input of the first node under
                                    /classifier/, not the auxiliary one, that no classifier node
                                    produces), and on a second line the other backbone tensors the
                                    decoder reads (LR-ASPP's low-level feature), space-separated
  zoo_lift.py masks DIR_A DIR_B     compare the NAME_labels.png masks of two `lmpseg predict` folders;
                                    print "SAME TOTAL PERCENT" (pixels with the same class) and exit 1
                                    when a mask is missing or the sizes differ
"""
import glob
import os
import sys


def decoder(g):
    """Returns (from, others) for graph g."""
    prod = {}
    for n in g.node:
        for o in n.output:
            prod[o] = n

    def in_dec(n):
        return "/classifier/" in n.name and "aux_classifier" not in n.name

    frm = ""
    others = []
    for n in g.node:
        if not in_dec(n) or n.op_type == "Shape":
            continue
        for x in n.input:
            p = prod.get(x)
            if p is None or in_dec(p) or "/backbone/" not in p.name:
                continue
            if not frm:
                frm = x
            elif x != frm and x not in others:
                others.append(x)
    return frm, others


def cmd_from(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    frm, others = decoder(m.graph)
    if not frm:
        sys.exit(f"zoo_lift.py: {path}: no classifier input found")
    print(frm)
    print(" ".join(others))


def cmd_masks(a, b):
    import numpy as np
    from PIL import Image
    fa = sorted(glob.glob(os.path.join(a, "*_labels.png")))
    if not fa:
        sys.exit(f"zoo_lift.py: no *_labels.png in {a}")
    same = total = 0
    for f in fa:
        g = os.path.join(b, os.path.basename(f))
        if not os.path.exists(g):
            sys.exit(f"zoo_lift.py: {g} is missing")
        x, y = np.asarray(Image.open(f)), np.asarray(Image.open(g))
        if x.shape != y.shape:
            sys.exit(f"zoo_lift.py: {os.path.basename(f)}: {x.shape} vs {y.shape}")
        same += int((x == y).sum())
        total += x.size
    print(same, total, f"{100 * same / total:.4f}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "from":
        cmd_from(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "masks":
        cmd_masks(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
