"""VGG16 (Simonyan & Zisserman 2015, configuration "D"), in plain torch, for small multi-band cutouts.

Adaptation to 32 x 32 inputs, shared by every baseline of the IICnet chapter: the ImageNet network is
kept as published except for the input and the head. VGG has no strided stem, so nothing changes at
the input besides ``in_chans``: the five 2 x 2 max-pools (one per stage) take 32 x 32 to 1 x 1. The
classifier keeps VGG's two 4096-wide fully connected layers, applied to the 512-vector after a global
average pool (the ImageNet version flattens 7 x 7 x 512). BatchNorm after each convolution
(the "VGG16-BN" variant) is our choice: it lets the network train from scratch in a few epochs.

``width`` multiplies every channel count (and the 4096 hidden units); ``depth`` multiplies the number
of convolutions per stage (rounded up). Shapes for width 1:

    x        (B, 4, 32, 32)
    stage 1  (B, 64, 16, 16)   2 x [3x3 conv, BN, ReLU], maxpool
    stage 2  (B, 128, 8, 8)    2 x ...
    stage 3  (B, 256, 4, 4)    3 x ...
    stage 4  (B, 512, 2, 2)    3 x ...
    stage 5  (B, 512, 1, 1)    3 x ...
    pool     (B, 512)
    fc       (B, 4096) -> (B, 4096) -> (B, num_classes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from astrorepro.models import register_model


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class VGGConfig:
    in_chans: int = 4
    num_classes: int = 3
    stages: tuple[tuple[int, int], ...] = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))  # (convs, channels)
    hidden: int = 4096
    dropout: float = 0.5
    batch_norm: bool = True
    width: float = 1.0
    depth: float = 1.0


class VGG(nn.Module):
    def __init__(self, cfg: VGGConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = cfg.in_chans
        for n, w in cfg.stages:
            w = _ch(w, cfg.width)
            for _ in range(max(1, math.ceil(n * cfg.depth))):
                layers.append(nn.Conv2d(c, w, 3, padding=1, bias=not cfg.batch_norm))
                if cfg.batch_norm:
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.ReLU(inplace=True))
                c = w
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c
        h = _ch(cfg.hidden, cfg.width)
        self.classifier = nn.Sequential(
            nn.Linear(c, h), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
            nn.Linear(h, h), nn.ReLU(inplace=True), nn.Dropout(cfg.dropout),
            nn.Linear(h, cfg.num_classes),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled convolutional features ``(B, num_features)`` (before the fully connected layers)."""
        return self.pool(self.body(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))


@register_model("vgg16")
def vgg16(**overrides) -> VGG:
    """VGG16-BN adapted to 4 x 32 x 32 cutouts."""
    return VGG(replace(VGGConfig(), **overrides))


@register_model("test_vgg")
def test_vgg(**overrides) -> VGG:
    """Tiny VGG for unit tests."""
    return VGG(replace(VGGConfig(stages=((1, 8), (1, 16)), hidden=32), **overrides))
