"""IICnet-proxy: a compact CNN for star / galaxy / quasar classification of WISE cutouts.

**This is our design, not the paper's network.** Zhao, Qiu, Luo et al. 2023 (arXiv:2305.10217,
"IICnet", Infrared Image Classification network) describe a compact CNN on WISE images, but the
layers, input size and bands could not be read for this reproduction (see the chapter). What follows
is a network *in the spirit* of the paper: small, shallow, fast at inference, built around what a
WISE cutout holds. Every choice below is ours:

* 4 input channels W1, W2, W3, W4 on a 32 x 32 stamp at 2.75"/pixel (arcsinh-scaled by the chapter).
* A 1 x 1 "band-mixing" stem: the first layer may only combine bands pixel by pixel, so the network
  starts from colour-like maps (on an arcsinh/log scale a difference of bands *is* a colour).
* Three stride-1 3 x 3 convolution stages (BN + ReLU), each followed by a 2 x 2 max-pool except the
  last; the PSF is 2-4 pixels wide, so nothing is thrown away before the first 3 x 3 layer.
* A head that concatenates global average and global max pooling (extent and peak brightness) and
  a dropout + linear classifier.

Shapes for the default config (B = batch):

    x      (B, 4, 32, 32)
    mix    (B, 16, 32, 32)    1x1 conv, BN, ReLU
    stage1 (B, 32, 16, 16)    3x3 conv, BN, ReLU, maxpool 2
    stage2 (B, 64, 8, 8)      3x3 conv, BN, ReLU, maxpool 2
    stage3 (B, 128, 8, 8)     3x3 conv, BN, ReLU
    pool   (B, 256)           [avg, max] global pooling
    logits (B, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn

from astrorepro.models import register_model


def _ch(c: int, width: float, divisor: int = 8) -> int:
    """Channel count ``c`` scaled by ``width`` and rounded to a multiple of ``divisor`` (>= divisor)."""
    return max(divisor, int(c * width + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class IICNetConfig:
    """Configuration of the IICnet-proxy (all values are our choices, not the paper's)."""

    in_chans: int = 4  # W1, W2, W3, W4
    num_classes: int = 3  # galaxy, quasar, star
    mix_chans: int = 16  # 1x1 band-mixing stem
    widths: tuple[int, ...] = (32, 64, 128)  # one 3x3 conv per stage
    width: float = 1.0  # channel multiplier
    dropout: float = 0.2


def conv_bn_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=1, padding=k // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class IICNetProxy(nn.Module):
    """Compact CNN for 4-band WISE cutouts (our design, see the module docstring)."""

    def __init__(self, cfg: IICNetConfig):
        super().__init__()
        if cfg.in_chans < 1 or cfg.num_classes < 2:
            raise ValueError(f"need in_chans >= 1 and num_classes >= 2, got {cfg.in_chans}, {cfg.num_classes}")
        self.cfg = cfg
        c = _ch(cfg.mix_chans, cfg.width)
        self.mix = conv_bn_relu(cfg.in_chans, c, 1)  # (B, C_mix, H, W)
        stages = []
        for i, w in enumerate(cfg.widths):
            w = _ch(w, cfg.width)
            layers = [conv_bn_relu(c, w, 3)]
            if i < len(cfg.widths) - 1:
                layers.append(nn.MaxPool2d(2))  # halve H, W
            stages.append(nn.Sequential(*layers))
            c = w
        self.stages = nn.Sequential(*stages)
        self.num_features = 2 * c  # avg + max pooled
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(self.num_features, cfg.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature vector ``(B, num_features)``."""
        x = self.stages(self.mix(x))  # (B, C, h, w)
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)  # (B, 2C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.forward_features(x)))  # (B, num_classes)


@register_model("iicnet")
def iicnet(**overrides) -> IICNetProxy:
    """IICnet-proxy at its default size (about 0.1M parameters)."""
    return IICNetProxy(replace(IICNetConfig(), **overrides))


@register_model("test_iicnet")
def test_iicnet(**overrides) -> IICNetProxy:
    """Tiny IICnet-proxy for unit tests."""
    return IICNetProxy(replace(IICNetConfig(mix_chans=8, widths=(8, 8)), **overrides))
