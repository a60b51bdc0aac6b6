"""A plain multilayer perceptron: the network whose layers the LMD chapter decomposes.

``x -> W_1 -> sigma -> W_2 -> sigma -> ... -> W_L -> y``: every layer is a ``torch.nn.Linear``
(weight shape ``(out, in)``) and one continuous activation sits between layers, as in the setting of
Ng, Luo & Qiu (2023), arXiv:2309.05968, Sec. "Setup" (continuous activations; the chapter uses tanh).

Build it through the registry::

    from astrorepro.models import create_model
    net = create_model("mlp", in_dim=64, widths=(128, 128), out_dim=10, activation="tanh")
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn

from . import register_model

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU, "identity": nn.Identity}


@dataclass(frozen=True)
class MLPConfig:
    """Shape of an MLP.

    Attributes:
        in_dim: input features.
        widths: hidden widths, one per hidden layer (may be empty: a linear model).
        out_dim: outputs.
        activation: ``"tanh"``, ``"relu"``, ``"gelu"`` or ``"identity"`` (continuous, as the
            encoding theorem assumes).
        bias: whether layers have biases.
    """

    in_dim: int = 2
    widths: tuple[int, ...] = (64, 64)
    out_dim: int = 1
    activation: str = "tanh"
    bias: bool = True

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        if self.in_dim < 1 or self.out_dim < 1 or any(w < 1 for w in widths):
            raise ValueError(f"dimensions must be >= 1: in_dim={self.in_dim}, widths={widths}, out_dim={self.out_dim}")


class MLP(nn.Module):
    """``x (B, in_dim) -> (B, out_dim)`` through ``len(widths) + 1`` linear layers."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        dims = (cfg.in_dim, *cfg.widths, cfg.out_dim)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=cfg.bias) for a, b in zip(dims[:-1], dims[1:]))
        self.act = ACTIVATIONS[cfg.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.act(layer(x))                # (B, width_l)
        return self.layers[-1](x)                 # (B, out_dim)

    @torch.no_grad()
    def layer_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input ``h_{l-1}`` of every linear layer l (the first is ``x`` itself), in order."""
        hs = []
        for i, layer in enumerate(self.layers):
            hs.append(x)                          # (B, in_l)
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return hs

    def weights(self) -> list[torch.Tensor]:
        """The weight matrices ``W_l`` (out_l, in_l), detached, in order of application."""
        return [layer.weight.detach() for layer in self.layers]

    @torch.no_grad()
    def set_weights(self, weights: list) -> "MLP":
        """Overwrite the weight matrices in place (e.g. with rank-k truncations); returns self."""
        if len(weights) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} weight matrices, got {len(weights)}")
        for layer, W in zip(self.layers, weights):
            W = torch.as_tensor(W, dtype=layer.weight.dtype, device=layer.weight.device)
            if W.shape != layer.weight.shape:
                raise ValueError(f"weight of shape {tuple(W.shape)} does not fit layer {tuple(layer.weight.shape)}")
            layer.weight.copy_(W)
        return self


def _build(base: MLPConfig, **overrides) -> MLP:
    names = {f.name for f in fields(MLPConfig)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown MLP config field(s) {bad}; allowed: {sorted(names)}")
    return MLP(replace(base, **overrides))


@register_model("mlp")
def mlp(**overrides) -> MLP:
    """Default MLP 2 -> 64 -> 64 -> 1 with tanh; override any :class:`MLPConfig` field."""
    return _build(MLPConfig(), **overrides)


@register_model("test_mlp")
def test_mlp(**overrides) -> MLP:
    """Tiny MLP 4 -> 8 -> 2 for tests."""
    return _build(MLPConfig(in_dim=4, widths=(8,), out_dim=2), **overrides)
