"""RepVGG-A0 (Ding et al. 2021) in plain torch: a multi-branch training form and a plain inference form.

Training form of one block (Fig. 2 of the paper):

    y = ReLU( BN(conv3x3(x)) + BN(conv1x1(x)) + BN(x) )      (identity branch only if shapes match)

Structural re-parameterisation (Sec. 3.3): in eval mode a conv followed by BN is the affine map
``gamma/std * (W x) + (beta - mu gamma/std)``, so each branch is a 3x3 kernel plus a bias (the 1x1 kernel
zero-padded to 3x3, the identity written as a 3x3 kernel with a 1 at the centre of its own channel).
The three kernels and biases add up to ONE 3x3 conv with bias: :meth:`RepVGG.reparameterize` swaps every
block for that single conv, giving a VGG-like stack of 3x3 conv + ReLU with identical outputs.

Adaptation to 32 x 32 inputs (the same rule for every baseline of the IICnet chapter): the first
stage (the stem, one block) has stride 1 instead of 2; the other four stages keep their stride 2, so
the maps go 32 -> 32 -> 16 -> 8 -> 4 -> 2. RepVGG-A0: blocks (1, 2, 4, 14, 1), widths
min(64, 64a), 64a, 128a, 256a, 512b with a = 0.75, b = 2.5 -> 48, 48, 96, 192, 1280.
``width`` multiplies every channel count; ``depth`` multiplies the number of blocks per stage.
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
class RepVGGConfig:
    in_chans: int = 4
    num_classes: int = 3
    blocks: tuple[int, ...] = (1, 2, 4, 14, 1)  # stem stage + 4 stages (A0)
    widths: tuple[int, ...] = (48, 48, 96, 192, 1280)
    strides: tuple[int, ...] = (1, 2, 2, 2, 2)  # first stride 1: our adaptation (published: 2)
    width: float = 1.0
    depth: float = 1.0
    deploy: bool = False  # build directly in the re-parameterised (inference) form


def conv_bn(c_in: int, c_out: int, k: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out))


def _fuse_bn(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Kernel and bias of ``bn(conv(x))`` in eval mode, for a conv with weight ``kernel`` and no bias."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std  # (C_out,)
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, deploy: bool = False):
        super().__init__()
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        if deploy:
            self.reparam = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=True)
        else:
            self.dense = conv_bn(c_in, c_out, 3, stride)
            self.one = conv_bn(c_in, c_out, 1, stride)
            self.identity = nn.BatchNorm2d(c_in) if (c_in == c_out and stride == 1) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "reparam"):
            return F.relu(self.reparam(x))
        out = self.dense(x) + self.one(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return F.relu(out)

    @torch.no_grad()
    def fused_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single 3x3 kernel ``(C_out, C_in, 3, 3)`` and bias ``(C_out,)`` equal to the three branches."""
        k3, b3 = _fuse_bn(self.dense[0].weight, self.dense[1])
        k1, b1 = _fuse_bn(self.one[0].weight, self.one[1])
        kernel, bias = k3 + F.pad(k1, [1, 1, 1, 1]), b3 + b1
        if self.identity is not None:
            eye = torch.zeros_like(k3)
            eye[torch.arange(self.c_in), torch.arange(self.c_in), 1, 1] = 1.0
            ki, bi = _fuse_bn(eye, self.identity)
            kernel, bias = kernel + ki, bias + bi
        return kernel, bias

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Replace the branches by one 3x3 conv with bias (in place; uses BN running statistics)."""
        if hasattr(self, "reparam"):
            return
        kernel, bias = self.fused_kernel_bias()
        self.reparam = nn.Conv2d(self.c_in, self.c_out, 3, self.stride, 1, bias=True).to(kernel.device)
        self.reparam.weight.copy_(kernel)
        self.reparam.bias.copy_(bias)
        del self.dense, self.one, self.identity


class RepVGG(nn.Module):
    def __init__(self, cfg: RepVGGConfig):
        super().__init__()
        if not len(cfg.blocks) == len(cfg.widths) == len(cfg.strides):
            raise ValueError("blocks, widths and strides must have the same length")
        self.cfg = cfg
        layers: list[nn.Module] = []
        c = cfg.in_chans
        for n, w, s in zip(cfg.blocks, cfg.widths, cfg.strides):
            w = _ch(w, cfg.width)
            for i in range(max(1, math.ceil(n * cfg.depth))):
                layers.append(RepVGGBlock(c, w, s if i == 0 else 1, deploy=cfg.deploy))
                c = w
        self.body = nn.Sequential(*layers)
        self.num_features = c
        self.fc = nn.Linear(c, cfg.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features ``(B, num_features)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))

    def reparameterize(self) -> "RepVGG":
        """Convert every block to its inference form in place (call after training, in eval mode)."""
        self.eval()
        for m in self.modules():
            if isinstance(m, RepVGGBlock):
                m.reparameterize()
        return self


@register_model("repvgg_a0")
def repvgg_a0(**overrides) -> RepVGG:
    """RepVGG-A0 adapted to 4 x 32 x 32 cutouts (training form unless ``deploy=True``)."""
    return RepVGG(replace(RepVGGConfig(), **overrides))


@register_model("test_repvgg")
def test_repvgg(**overrides) -> RepVGG:
    """Tiny RepVGG for unit tests."""
    return RepVGG(replace(RepVGGConfig(blocks=(1, 2, 1), widths=(8, 8, 16), strides=(1, 2, 2)), **overrides))
