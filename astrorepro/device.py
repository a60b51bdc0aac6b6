"""Device choice and mixed precision, in one place.

``"auto"`` picks CUDA when present, else CPU. On CUDA, training runs under bf16 autocast; on CPU it
runs in float32 so that two runs with the same seed give identical numbers.
"""

from __future__ import annotations

import contextlib

import torch

DEVICES = ("auto", "cpu", "cuda")


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` to a :class:`torch.device`.

    Raises:
        ValueError: for an unknown name, or ``"cuda"`` asked for on a machine without a GPU.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but no CUDA GPU is available; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"unknown device {device!r}; choose from: {', '.join(DEVICES)} (or 'cuda:N')")


def describe(device: torch.device) -> str:
    """A human-readable name of the device, e.g. ``"cpu (2 threads)"`` or ``"cuda (NVIDIA H200)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'s' if n != 1 else ''})"


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
