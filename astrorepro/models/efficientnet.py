"""EfficientNetV2-S (Tan & Le 2021) in plain torch, adapted to small multi-band cutouts.

The topology is Table 4 of the paper (EfficientNetV2-S): a 3x3 stem, three Fused-MBConv stages, three
MBConv stages with squeeze-and-excitation (ratio 0.25 of the block input), a 1x1 conv to 1280 channels,
global pooling and a linear classifier; SiLU activations throughout.

Adaptation to 32 x 32 inputs (the same rule for every baseline of the IICnet chapter): the stem stride
goes from 2 to 1; every later stride is as published, so the maps go 32 -> 32 -> 16 -> 8 -> 4 -> 4 -> 2.
Stochastic depth and the progressive-resizing training recipe are left out (training details, not
topology). ``width`` multiplies every channel count (head included); ``depth`` multiplies the number of
blocks per stage (rounded up). Shapes for width 1:

    x       (B, 4, 32, 32)
    stem    (B, 24, 32, 32)
    stages  (B, 256, 2, 2)     2+4+4+6+9+15 = 40 blocks
    head    (B, 1280, 2, 2)
    pool    (B, 1280) -> dropout -> fc (B, num_classes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from astrorepro.models import register_model

# (block, expansion, stride, output channels, repeats, SE ratio), Table 4 of Tan & Le 2021 (V2-S)
EFFICIENTNETV2_S = (("fused", 1, 1, 24, 2, 0.0), ("fused", 4, 2, 48, 4, 0.0), ("fused", 4, 2, 64, 4, 0.0),
                    ("mb", 4, 2, 128, 6, 0.25), ("mb", 6, 1, 160, 9, 0.25), ("mb", 6, 2, 256, 15, 0.25))


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class EfficientNetV2Config:
    in_chans: int = 4
    num_classes: int = 3
    stages: tuple = EFFICIENTNETV2_S
    stem_chans: int = 24
    head_chans: int = 1280
    dropout: float = 0.2
    width: float = 1.0
    depth: float = 1.0


def conv_bn_act(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    if act:
        layers.append(nn.SiLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """x * sigmoid(W2 silu(W1 mean(x))): channel gating from the global average."""

    def __init__(self, c: int, c_squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(c, c_squeeze, 1)
        self.expand = nn.Conv2d(c_squeeze, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


class FusedMBConv(nn.Module):
    """3x3 conv expand (stride) -> 1x1 projection; a single 3x3 conv when the expansion is 1."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        if expand == 1:
            self.block = conv_bn_act(c_in, c_out, 3, stride)
        else:
            hidden = c_in * expand
            self.block = nn.Sequential(conv_bn_act(c_in, hidden, 3, stride), conv_bn_act(hidden, c_out, 1, act=False))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MBConv(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride) -> squeeze-excite -> 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, se: float):
        super().__init__()
        hidden = c_in * expand
        self.block = nn.Sequential(
            conv_bn_act(c_in, hidden, 1),
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
            SqueezeExcite(hidden, max(1, int(c_in * se))),
            conv_bn_act(hidden, c_out, 1, act=False),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class EfficientNetV2(nn.Module):
    def __init__(self, cfg: EfficientNetV2Config):
        super().__init__()
        self.cfg = cfg
        c = _ch(cfg.stem_chans, cfg.width)
        layers: list[nn.Module] = [conv_bn_act(cfg.in_chans, c, 3, stride=1)]  # stride 1: our adaptation
        for kind, e, s, c_out, n, se in cfg.stages:
            c_out = _ch(c_out, cfg.width)
            for i in range(max(1, math.ceil(n * cfg.depth))):
                stride = s if i == 0 else 1
                layers.append(FusedMBConv(c, c_out, stride, e) if kind == "fused" else MBConv(c, c_out, stride, e, se))
                c = c_out
        head = _ch(cfg.head_chans, cfg.width)
        layers.append(conv_bn_act(c, head, 1))
        self.body = nn.Sequential(*layers)
        self.num_features = head
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(head, cfg.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``(B, num_features)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.forward_features(x)))


@register_model("efficientnetv2_s")
def efficientnetv2_s(**overrides) -> EfficientNetV2:
    """EfficientNetV2-S topology adapted to 4 x 32 x 32 cutouts."""
    return EfficientNetV2(replace(EfficientNetV2Config(), **overrides))


@register_model("test_efficientnetv2")
def test_efficientnetv2(**overrides) -> EfficientNetV2:
    """Tiny EfficientNetV2 for unit tests."""
    return EfficientNetV2(replace(EfficientNetV2Config(width=0.25, depth=0.1, head_chans=64), **overrides))
