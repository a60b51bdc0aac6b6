"""Baselines of the "Spectra as Language" chapter: a 1-D ResNet, a GRU and a small CNN, in plain torch.

Lu, Li, Li et al. 2026 (arXiv:2605.22162) compare their LLM with LightGBM, ResNet-50, a GRU and a
small CNN (layer counts and widths are not stated in the text we could read). These are CPU-sized
stand-ins with the same inductive biases; gradient-boosted trees come from LightGBM / scikit-learn in
the chapter module. Every model maps a continuum-normalised spectrum ``(B, n_pix)`` to ``(B, n_out)``
standardised labels, and is built by ``create_model("spec_resnet1d" | "spec_gru" | "spec_cnn", ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from . import register_model


@dataclass(frozen=True)
class SpecBaselineConfig:
    """Configuration shared by the three baselines.

    Attributes:
        n_pix: input pixels.
        n_out: labels predicted.
        width: channels of the first stage (ResNet, CNN) or GRU hidden size.
        depth: residual stages (ResNet; each halves the length and doubles the width), conv blocks
            (CNN) or GRU layers.
        patch: pixels per GRU time step (the GRU reads ``n_pix / patch`` steps of ``patch`` pixels).
        dropout: dropout before the head.
    """

    n_pix: int = 1024
    n_out: int = 3
    width: int = 16
    depth: int = 3
    patch: int = 8
    dropout: float = 0.0

    def __post_init__(self):
        if min(self.n_pix, self.n_out, self.width, self.depth, self.patch) < 1:
            raise ValueError(f"all sizes must be positive, got {self}")


def _as_channels(x: torch.Tensor, n_pix: int) -> torch.Tensor:
    if x.ndim != 2 or x.shape[1] != n_pix:
        raise ValueError(f"expected spectra of shape (B, {n_pix}), got {tuple(x.shape)}")
    return (x.float() - 1.0).unsqueeze(1)  # (B, 1, n_pix), continuum at 0


class BasicBlock1d(nn.Module):
    """ResNet basic block (He et al. 2016) in 1-D: two 3-tap convolutions and a skip connection."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.skip = (nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm1d(c_out))
                     if stride != 1 or c_in != c_out else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet1d(nn.Module):
    """A 1-D ResNet: stem conv (7 taps, stride 2) + max-pool, ``depth`` stages of two basic blocks
    (stride 2, width doubling), global average pooling, linear head. A small stand-in for ResNet-50."""

    def __init__(self, cfg: SpecBaselineConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.stem = nn.Sequential(nn.Conv1d(1, w, 7, 2, 3, bias=False), nn.BatchNorm1d(w), nn.ReLU(), nn.MaxPool1d(3, 2, 1))
        stages, c = [], w
        for i in range(cfg.depth):
            c_out = w * 2**i
            stages += [BasicBlock1d(c, c_out, 1 if i == 0 else 2), BasicBlock1d(c_out, c_out, 1)]
            c = c_out
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c, cfg.n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stages(self.stem(_as_channels(x, self.cfg.n_pix)))  # (B, C, L/2^(depth+1))
        return self.head(h.mean(-1))


class GRURegressor(nn.Module):
    """A GRU reading the spectrum blue to red in steps of ``patch`` pixels; last state -> linear head."""

    def __init__(self, cfg: SpecBaselineConfig):
        super().__init__()
        self.cfg = cfg
        self.n_steps = -(-cfg.n_pix // cfg.patch)
        self.inp = nn.Linear(cfg.patch, cfg.width)
        self.gru = nn.GRU(cfg.width, cfg.width, num_layers=cfg.depth, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.width, cfg.n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _as_channels(x, self.cfg.n_pix).squeeze(1)
        h = nn.functional.pad(h, (0, self.n_steps * self.cfg.patch - self.cfg.n_pix))
        h = self.inp(h.view(h.shape[0], self.n_steps, self.cfg.patch))  # (B, steps, width)
        out, _ = self.gru(h)
        return self.head(out[:, -1])


class SmallCNN(nn.Module):
    """A small CNN: ``depth`` blocks of conv(5 taps)-BN-ReLU-maxpool(4), then a two-layer MLP head."""

    def __init__(self, cfg: SpecBaselineConfig):
        super().__init__()
        self.cfg = cfg
        layers, c = [], 1
        for i in range(cfg.depth):
            c_out = cfg.width * 2**min(i, 2)
            layers += [nn.Conv1d(c, c_out, 5, 1, 2), nn.BatchNorm1d(c_out), nn.ReLU(), nn.MaxPool1d(4)]
            c = c_out
        self.features = nn.Sequential(*layers)
        n = cfg.n_pix
        for _ in range(cfg.depth):
            n //= 4
        if n < 1:
            raise ValueError(f"n_pix={cfg.n_pix} is too short for {cfg.depth} pooling blocks")
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c * n, 64), nn.ReLU(),
                                  nn.Linear(64, cfg.n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(_as_channels(x, self.cfg.n_pix)))


@register_model("spec_resnet1d")
def spec_resnet1d(**overrides) -> ResNet1d:
    return ResNet1d(SpecBaselineConfig(**overrides))


@register_model("spec_gru")
def spec_gru(**overrides) -> GRURegressor:
    kw = dict(width=48, depth=1, patch=16)
    kw.update(overrides)
    return GRURegressor(SpecBaselineConfig(**kw))


@register_model("spec_cnn")
def spec_cnn(**overrides) -> SmallCNN:
    return SmallCNN(SpecBaselineConfig(**overrides))


@register_model("test_spec_resnet1d")
def test_spec_resnet1d(**overrides) -> ResNet1d:
    kw = dict(n_pix=64, width=4, depth=2)
    kw.update(overrides)
    return ResNet1d(SpecBaselineConfig(**kw))


@register_model("test_spec_gru")
def test_spec_gru(**overrides) -> GRURegressor:
    kw = dict(n_pix=64, width=8, depth=1, patch=8)
    kw.update(overrides)
    return GRURegressor(SpecBaselineConfig(**kw))


@register_model("test_spec_cnn")
def test_spec_cnn(**overrides) -> SmallCNN:
    kw = dict(n_pix=64, width=4, depth=2)
    kw.update(overrides)
    return SmallCNN(SpecBaselineConfig(**kw))
