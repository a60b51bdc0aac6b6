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


#: Dense bf16 tensor-core peak (TFLOP/s) from the vendors' data sheets, by a substring of the name
#: ``torch.cuda.get_device_name`` gives; the first match wins (so "H100 PCIe" comes before "H100").
PEAK_BF16_TFLOPS = {
    "H200": 989.4,
    "H100 PCIe": 756.0,
    "H100 NVL": 835.0,
    "H100": 989.4,  # SXM
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
}


def peak_flops(device: torch.device) -> float | None:
    """The device's dense bf16 peak in FLOP/s (what training under :func:`autocast` runs at), or
    ``None`` where it is not known (CPUs, GPUs missing from :data:`PEAK_BF16_TFLOPS`)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
