"""MobileNetV2 (Sandler et al. 2018) in plain torch, adapted to small multi-band cutouts.

Adaptation to 32 x 32 inputs (the same rule for every baseline of the IICnet chapter): the stem
3x3 conv keeps its kernel but its stride goes from 2 to 1; the body (inverted residual blocks, strides
as published) is unchanged, so the maps go 32 -> 32 -> 16 -> 8 -> 4 -> 4 -> 2 -> 2.

``width`` multiplies every channel count, including the final 1280-channel 1x1 conv (the paper keeps
1280 for width < 1; we scale it so that reduced-width versions are uniformly smaller). ``depth``
multiplies the number of blocks per stage (rounded up). Shapes for width 1:

    x       (B, 4, 32, 32)
    stem    (B, 32, 32, 32)
    blocks  (B, 320, 2, 2)     17 inverted residual blocks, Table 2 of the paper
    head    (B, 1280, 2, 2)    1x1 conv, BN, ReLU6
    pool    (B, 1280) -> dropout -> fc (B, num_classes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from astrorepro.models import register_model

# (expansion t, output channels c, repeats n, first stride s), Table 2 of Sandler et al. 2018
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class MobileNetV2Config:
    in_chans: int = 4
    num_classes: int = 3
    settings: tuple[tuple[int, int, int, int], ...] = MOBILENET_V2
    stem_chans: int = 32
    last_chans: int = 1280
    dropout: float = 0.2
    width: float = 1.0
    depth: float = 1.0


def conv_bn_relu6(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> 1x1 linear projection, + x when shapes match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = [conv_bn_relu6(c_in, hidden, 1)] if expand != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    def __init__(self, cfg: MobileNetV2Config):
        super().__init__()
        self.cfg = cfg
        c = _ch(cfg.stem_chans, cfg.width)
        layers: list[nn.Module] = [conv_bn_relu6(cfg.in_chans, c, 3, stride=1)]  # stride 1: our adaptation
        for t, c_out, n, s in cfg.settings:
            c_out = _ch(c_out, cfg.width)
            for i in range(max(1, math.ceil(n * cfg.depth))):
                layers.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        last = _ch(cfg.last_chans, cfg.width)
        layers.append(conv_bn_relu6(c, last, 1))
        self.body = nn.Sequential(*layers)
        self.num_features = last
        self.drop = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(last, cfg.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``(B, num_features)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.forward_features(x)))


@register_model("mobilenetv2")
def mobilenetv2(**overrides) -> MobileNetV2:
    """MobileNetV2 (width 1.0) adapted to 4 x 32 x 32 cutouts."""
    return MobileNetV2(replace(MobileNetV2Config(), **overrides))


@register_model("test_mobilenetv2")
def test_mobilenetv2(**overrides) -> MobileNetV2:
    """Tiny MobileNetV2 for unit tests."""
    return MobileNetV2(replace(MobileNetV2Config(width=0.25, depth=0.3, last_chans=64), **overrides))
