"""Model families, one per module, built through one factory.

Every model is registered by name with :func:`register_model` and built with
:func:`create_model`, in the style of timm: ``create_model("iicnet", in_chans=4, num_classes=3)``.
Modules register on import, so :func:`_import_families` imports them lazily on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model constructor under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"model name {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def _import_families() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def list_models(prefix: str = "") -> list[str]:
    """Names of the registered models, optionally only those starting with ``prefix``."""
    _import_families()
    return sorted(n for n in _REGISTRY if n.startswith(prefix))


def create_model(name: str, **overrides) -> nn.Module:
    """Build the model registered as ``name``; keyword arguments override its config."""
    _import_families()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose from: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**overrides)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all of them, or only those that require grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
