"""A small U-Net (Ronneberger et al. 2015), the from-scratch baseline of the LVM chapter's restoration task.

    x (B, C_in, H, W)
    down: [conv3x3-BN-ReLU x2] at widths base, 2 base, 4 base ..., 2x2 max-pool between levels
    up:   bilinear x2, concat the skip, [conv3x3-BN-ReLU x2]
    out:  1x1 conv to C_out; with ``residual=True`` the output is x + correction, and the last conv
          starts at zero, so the untrained network is the identity (a restoration network then only
          has to learn what to change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from astrorepro.models import register_model


@dataclass(frozen=True)
class UNetConfig:
    in_chans: int = 3
    out_chans: int = 3
    base: int = 16
    levels: int = 3  # number of resolutions (2 poolings for levels=3)
    residual: bool = True


def conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        if cfg.levels < 1:
            raise ValueError(f"levels must be >= 1, got {cfg.levels}")
        if cfg.residual and cfg.in_chans != cfg.out_chans:
            raise ValueError("residual=True needs in_chans == out_chans")
        self.cfg = cfg
        widths = [cfg.base * 2**i for i in range(cfg.levels)]
        self.down = nn.ModuleList()
        c = cfg.in_chans
        for w in widths:
            self.down.append(conv_block(c, w))
            c = w
        self.up = nn.ModuleList(conv_block(widths[i + 1] + widths[i], widths[i]) for i in range(cfg.levels - 2, -1, -1))
        self.out = nn.Conv2d(widths[0], cfg.out_chans, 1)
        if cfg.residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** (self.cfg.levels - 1)
        if x.ndim != 4 or x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"expected (B, C, H, W) with H, W multiples of {m}, got {tuple(x.shape)}")
        skips, h = [], x
        for i, block in enumerate(self.down):
            h = block(h if i == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip], dim=1))
        out = self.out(h)
        return x + out if self.cfg.residual else out


@register_model("unet_small")
def unet_small(**overrides) -> UNet:
    """Small U-Net: widths 16/32/64 (3 levels), residual output."""
    return UNet(replace(UNetConfig(), **overrides))


@register_model("test_unet")
def test_unet(**overrides) -> UNet:
    """Tiny U-Net for unit tests."""
    return UNet(replace(UNetConfig(base=4, levels=2), **overrides))
