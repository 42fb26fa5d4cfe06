"""Torch wrappers that scripts/zoo.py, export_conventions.py and export-torchvision.py import.

Out and AuxOut turn a torchvision segmentation model's dict output into the tensors an ONNX export
returns; MEAN and STD are ImageNet's normalisation, lmpseg's default preprocessing.
"""
import torch

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


class Out(torch.nn.Module):
    """Returns out["out"] of a torchvision segmentation model."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


class AuxOut(torch.nn.Module):
    """Returns (out["aux"], out["out"]) of a torchvision segmentation model built with aux_loss=True:
    the first output is the auxiliary head."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        o = self.m(x)
        return o["aux"], o["out"]
