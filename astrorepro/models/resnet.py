"""ResNet18 and ResNet34 (He et al. 2016, basic blocks) in plain torch, for multi-band cutouts.

Two stems:

* ``stem="small"`` (default; the adaptation shared by every baseline of the IICnet chapter): the
  ImageNet stem (7x7/2 conv + 3x3/2 max-pool, total stride 4) is replaced by one 3x3 stride-1 conv
  and no max-pool, so a 32 x 32 cutout enters stage 1 at 32 x 32 as a 224 image enters it at 56 x 56.
* ``stem="imagenet"``: the published 7x7/2 conv + max-pool, for larger images (e.g. 64-256 pixels).

``width`` multiplies every channel count; ``depth`` multiplies the number of blocks per stage
(rounded up). ``forward_features`` (alias ``features``) returns the globally pooled vector, which is
what a linear probe or few-shot head uses. Shapes for resnet34, width 1, 32 x 32 input:

    x       (B, C_in, 32, 32)
    stem    (B, 64, 32, 32)
    layer1  (B, 64, 32, 32)    3 basic blocks
    layer2  (B, 128, 16, 16)   4 blocks, first with stride 2
    layer3  (B, 256, 8, 8)     6 blocks
    layer4  (B, 512, 4, 4)     3 blocks
    pool    (B, 512) -> fc (B, num_classes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from astrorepro.models import register_model


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class ResNetConfig:
    in_chans: int = 4
    num_classes: int = 3
    layers: tuple[int, ...] = (3, 4, 6, 3)  # resnet34
    widths: tuple[int, ...] = (64, 128, 256, 512)
    stem: str = "small"  # "small" (3x3/1, no max-pool) or "imagenet" (7x7/2 + max-pool)
    width: float = 1.0
    depth: float = 1.0
    zero_init_residual: bool = True  # last BN of each block starts at 0 (Goyal et al. 2017)


class BasicBlock(nn.Module):
    """x -> 3x3 conv, BN, ReLU -> 3x3 conv, BN -> + shortcut(x) -> ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:  # projection shortcut (option B)
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        if cfg.stem not in ("small", "imagenet"):
            raise ValueError(f"stem must be 'small' or 'imagenet', got {cfg.stem!r}")
        self.cfg = cfg
        widths = [_ch(w, cfg.width) for w in cfg.widths]
        c = widths[0]
        if cfg.stem == "small":
            self.stem = nn.Sequential(nn.Conv2d(cfg.in_chans, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c),
                                      nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(nn.Conv2d(cfg.in_chans, c, 7, 2, 3, bias=False), nn.BatchNorm2d(c),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        stages = []
        for i, (n, w) in enumerate(zip(cfg.layers, widths)):
            blocks = []
            for j in range(max(1, math.ceil(n * cfg.depth))):
                blocks.append(BasicBlock(c, w, 2 if (i > 0 and j == 0) else 1))
                c = w
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = c
        self.fc = nn.Linear(c, cfg.num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if cfg.zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``(B, num_features)``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    features = forward_features  # alias used by the galaxy-LVM chapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


@register_model("resnet18")
def resnet18(**overrides) -> ResNet:
    """ResNet18: basic blocks (2, 2, 2, 2)."""
    return ResNet(replace(ResNetConfig(layers=(2, 2, 2, 2)), **overrides))


@register_model("resnet34")
def resnet34(**overrides) -> ResNet:
    """ResNet34: basic blocks (3, 4, 6, 3)."""
    return ResNet(replace(ResNetConfig(layers=(3, 4, 6, 3)), **overrides))


@register_model("test_resnet")
def test_resnet(**overrides) -> ResNet:
    """Tiny ResNet for unit tests."""
    return ResNet(replace(ResNetConfig(layers=(1, 1), widths=(8, 16)), **overrides))
