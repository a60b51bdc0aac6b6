"""Cost of a network: multiply-accumulates (MACs) counted with forward hooks, and inference latency.

Counting convention (stated because papers differ by a factor of 2): one multiply-accumulate is one
MAC and **FLOPs = 2 x MACs**. Only ``nn.Conv1d/2d/3d`` and ``nn.Linear`` are counted (they hold >99% of
the arithmetic of the networks in this book); BatchNorm, activations, pooling, additions and the
squeeze-excite gating products are not. A convolution with ``C_in`` input channels, ``groups`` groups,
kernel ``k_h x k_w`` and an output of ``C_out x H_out x W_out`` costs

    MACs = C_out * H_out * W_out * (C_in / groups) * k_h * k_w      (+ C_out H_out W_out if it has a bias)

and a linear layer ``in -> out`` costs ``in * out (+ out)`` per sample. Counts are per input sample.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import torch
import torch.nn as nn


def count_macs(model: nn.Module, input_shape: Sequence[int], device: torch.device | str = "cpu",
               include_bias: bool = True) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on one sample of shape ``input_shape``.

    Args:
        model: the network; it is run once in eval mode under ``torch.no_grad`` (its mode is restored).
        input_shape: shape of ONE sample, e.g. ``(4, 32, 32)``.
        device: where to run the counting pass.
        include_bias: count one addition per output element for layers with a bias.

    Returns:
        MACs per sample (int). FLOPs = 2 x MACs.
    """
    if len(input_shape) < 1 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"input_shape must be positive sizes of one sample, got {tuple(input_shape)}")
    total = 0

    def conv_hook(m: nn.modules.conv._ConvNd, inp, out) -> None:
        nonlocal total
        k = math.prod(m.kernel_size) * (m.in_channels // m.groups)
        per_out = k + (1 if (include_bias and m.bias is not None) else 0)
        total += out[0].numel() * per_out  # out[0]: the first (only) sample

    def linear_hook(m: nn.Linear, inp, out) -> None:
        nonlocal total
        rows = out[0].numel() // m.out_features  # 1 unless applied to a sequence
        total += rows * (m.in_features * m.out_features + (m.out_features if (include_bias and m.bias is not None) else 0))

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *[int(s) for s in input_shape], device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


def count_flops(model: nn.Module, input_shape: Sequence[int], device: torch.device | str = "cpu") -> int:
    """FLOPs per sample under the convention FLOPs = 2 x MACs (see the module docstring)."""
    return 2 * count_macs(model, input_shape, device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark_latency(model: nn.Module, input_shape: Sequence[int], batch_sizes: Sequence[int] = (1, 256),
                      device: torch.device | str = "cpu", warmup: int = 3, repeats: int = 10,
                      min_time_s: float = 0.0, dtype: torch.dtype = torch.float32) -> dict[int, float]:
    """Inference time per image (seconds), median over repeated forward passes.

    Each batch size is timed separately: ``warmup`` untimed passes, then ``repeats`` timed passes
    (more if ``min_time_s`` is not yet reached), each bracketed by ``torch.cuda.synchronize`` on a GPU.
    The model runs in eval mode under ``torch.no_grad``; its mode is restored afterwards. Random input.

    Args:
        model: the network (already on ``device``).
        input_shape: shape of one sample, e.g. ``(4, 32, 32)``.
        batch_sizes: batch sizes to time; batch 1 is latency, a large batch is throughput.
        device: the device the model lives on.
        warmup: untimed passes before timing.
        repeats: timed passes (at least 1).
        min_time_s: keep timing until this much time was spent (and ``repeats`` reached).
        dtype: input dtype (float32; use bfloat16 only with a bf16 model).

    Returns:
        ``{batch_size: median seconds per image}``.
    """
    device = torch.device(device)
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if any(int(b) < 1 for b in batch_sizes):
        raise ValueError(f"batch sizes must be >= 1, got {tuple(batch_sizes)}")
    was_training = model.training
    model.eval()
    out: dict[int, float] = {}
    try:
        with torch.no_grad():
            gen = torch.Generator(device="cpu").manual_seed(0)
            for b in batch_sizes:
                x = torch.randn(int(b), *input_shape, generator=gen).to(device=device, dtype=dtype)
                for _ in range(warmup):
                    model(x)
                _sync(device)
                times: list[float] = []
                start = time.perf_counter()
                while len(times) < repeats or (time.perf_counter() - start) < min_time_s:
                    t0 = time.perf_counter()
                    model(x)
                    _sync(device)
                    times.append(time.perf_counter() - t0)
                times.sort()
                out[int(b)] = times[len(times) // 2] / int(b)
    finally:
        model.train(was_training)
    return out
