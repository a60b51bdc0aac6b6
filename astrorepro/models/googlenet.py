"""GoogLeNet / Inception v1 (Szegedy et al. 2015) in plain torch, adapted to small multi-band cutouts.

Adaptation to 32 x 32 inputs (the same rule for every baseline of the IICnet chapter): the strided
ImageNet stem is replaced by stride-1 convolutions and its max-pools are dropped. Here the stem
7x7/2 conv, maxpool/2, 1x1 conv, 3x3 conv, maxpool/2 (total stride 8) becomes 3x3/1 conv, 1x1 conv,
3x3 conv (stride 1), so inception 3a/3b see 32 x 32 maps as they see 28 x 28 at 224 pixels. The two
max-pools between the inception groups are kept (32 -> 16 -> 8). Also our choices: BatchNorm after
every convolution (as in torchvision's version), the 5 x 5 branch kept as 5 x 5 (as in the paper),
and the two auxiliary classifiers omitted (they only add a training loss; inference is unchanged).

``width`` multiplies every channel count; ``depth`` multiplies the number of inception modules in
each group [2, 5, 2] (rounded up; the first modules of a group are kept). Shapes for width 1:

    x     (B, 4, 32, 32)
    stem  (B, 192, 32, 32)
    3a,3b (B, 480, 32, 32)   -> maxpool -> (B, 480, 16, 16)
    4a-4e (B, 832, 16, 16)   -> maxpool -> (B, 832, 8, 8)
    5a,5b (B, 1024, 8, 8)    -> global average pool -> (B, 1024) -> dropout -> fc
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from astrorepro.models import register_model

# (name, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj), Table 1 of Szegedy et al. 2015
INCEPTION_V1 = (
    (("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64)),
    (("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64), ("4c", 128, 128, 256, 24, 64, 64),
     ("4d", 112, 144, 288, 32, 64, 64), ("4e", 256, 160, 320, 32, 128, 128)),
    (("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128)),
)


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class GoogLeNetConfig:
    in_chans: int = 4
    num_classes: int = 3
    groups: tuple = INCEPTION_V1
    stem: tuple[int, int, int] = (64, 64, 192)  # 3x3 conv, 1x1 conv, 3x3 conv
    dropout: float = 0.4
    width: float = 1.0
    depth: float = 1.0


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Inception(nn.Module):
    """Four parallel branches concatenated along channels: 1x1 | 1x1-3x3 | 1x1-5x5 | maxpool-1x1."""

    def __init__(self, c_in: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, cp: int):
        super().__init__()
        self.b1 = conv_bn(c_in, c1, 1)
        self.b3 = nn.Sequential(conv_bn(c_in, c3r, 1), conv_bn(c3r, c3, 3))
        self.b5 = nn.Sequential(conv_bn(c_in, c5r, 1), conv_bn(c5r, c5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv_bn(c_in, cp, 1))
        self.c_out = c1 + c3 + c5 + cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)  # (B, c_out, H, W)


class GoogLeNet(nn.Module):
    def __init__(self, cfg: GoogLeNetConfig):
        super().__init__()
        self.cfg = cfg
        s1, s2, s3 = (_ch(c, cfg.width) for c in cfg.stem)
        self.stem = nn.Sequential(conv_bn(cfg.in_chans, s1, 3), conv_bn(s1, s2, 1), conv_bn(s2, s3, 3))
        c = s3
        groups = []
        for g, modules in enumerate(cfg.groups):
            n = max(1, math.ceil(len(modules) * cfg.depth))
            blocks: list[nn.Module] = [nn.MaxPool2d(2)] if g > 0 else []  # 32 -> 16 -> 8
            for spec in modules[:n]:
                block = Inception(c, *(_ch(v, cfg.width) for v in spec[1:]))
                blocks.append(block)
                c = block.c_out
            groups.append(nn.Sequential(*blocks))
        self.groups = nn.Sequential(*groups)
        self.num_features = c
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c, cfg.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``(B, num_features)``."""
        return self.groups(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.forward_features(x)))


@register_model("googlenet")
def googlenet(**overrides) -> GoogLeNet:
    """GoogLeNet (Inception v1) adapted to 4 x 32 x 32 cutouts."""
    return GoogLeNet(replace(GoogLeNetConfig(), **overrides))


@register_model("test_googlenet")
def test_googlenet(**overrides) -> GoogLeNet:
    """Tiny GoogLeNet for unit tests (one inception module per group, width 1/8)."""
    return GoogLeNet(replace(GoogLeNetConfig(width=0.125, depth=0.2), **overrides))
