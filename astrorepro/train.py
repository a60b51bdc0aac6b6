"""The one training loop of the book.

:func:`fit` trains any ``nn.Module`` on in-memory tensors with a loss function the chapter supplies:

- AdamW with a cosine (or constant) learning-rate schedule and optional linear warm-up;
- device ``"auto"`` (CUDA when present, else CPU) and bf16 autocast on CUDA;
- deterministic shuffling derived from the seed and the epoch, so that two runs with the same seed
  give identical numbers on CPU;
- a tqdm progress bar;
- checkpoints with resume: a run killed half way and started again with the same
  ``checkpoint_dir`` ends with the same weights as one that was never interrupted;
- distributed data parallel: under ``torchrun`` (with ``torch.distributed`` initialised) each rank
  takes its share of every global batch and gradients are averaged, so the result matches the
  single-process run.

Example::

    cfg = TrainConfig(epochs=20, batch_size=128, lr=1e-3, seed=seed)
    hist = fit(model, (X, y), lambda m, b: F.mse_loss(m(b[0]), b[1]), cfg, device=run.device)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from .device import autocast, pick_device

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`fit`.

    Attributes:
        epochs: passes over the training set.
        batch_size: global batch size (split across ranks under DDP).
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        schedule: ``"cosine"`` (decay to 0 over training) or ``"constant"``.
        warmup_steps: linear warm-up steps before the schedule.
        grad_clip: clip the gradient norm to this value (``None``: no clipping).
        betas: AdamW betas.
        seed: seed of the shuffling (and of nothing else: seed the model before building it).
        progress: show a tqdm bar.
        desc: label of the progress bar.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 0
    grad_clip: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    seed: int = 0
    progress: bool = True
    desc: str = "train"

    def __post_init__(self):
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"TrainConfig needs epochs >= 0, batch_size >= 1 and lr > 0, got {self}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; choose from: cosine, constant")


@dataclass
class History:
    """What :func:`fit` measured: mean training loss per epoch, validation loss, time and arithmetic.

    ``epoch_time_s`` includes validation; ``train_time_s`` counts the training steps alone (what
    :meth:`samples_per_s` divides by). ``flops_per_sample`` is the arithmetic of one training step
    (forward and backward, counted by :class:`torch.utils.flop_counter.FlopCounterMode` on the first
    step: matrix products, convolutions and attention, the operations that dominate) per sample.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    steps: int = 0
    samples: int = 0
    resumed_from_epoch: int = 0
    desc: str = ""
    train_time_s: float = 0.0
    flops_per_sample: float | None = None

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def samples_per_s(self) -> float:
        """Training throughput (samples per second of training steps) over the epochs run in this process."""
        t = self.train_time_s or sum(self.epoch_time_s)
        return self.samples / t if t > 0 else float("nan")

    def flops_per_s(self) -> float | None:
        """Achieved training arithmetic (FLOP/s), or ``None`` when it was not counted."""
        return None if self.flops_per_sample is None else self.flops_per_sample * self.samples_per_s()


#: Called with the :class:`History` of every finished :func:`fit` (set by a chapter's run, which
#: records each training step's throughput for the execution-statistics page).
_fit_recorder: Callable[[History], None] | None = None


def set_fit_recorder(fn: Callable[[History], None] | None) -> None:
    """Install (or, with ``None``, remove) the function that receives every finished fit's History."""
    global _fit_recorder
    _fit_recorder = fn


def _as_tuple(data) -> Batch:
    if isinstance(data, torch.Tensor):
        data = (data,)
    data = tuple(data)
    if not data or not all(isinstance(t, torch.Tensor) for t in data):
        raise TypeError("data must be a tensor or a sequence of tensors")
    n = data[0].shape[0]
    if any(t.shape[0] != n for t in data):
        raise ValueError(f"tensors in data differ in their first dimension: {[tuple(t.shape) for t in data]}")
    if n == 0:
        raise ValueError("data is empty")
    return data


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffling of epoch ``epoch``: a function of (seed, epoch) only, so resume is exact."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    return torch.randperm(n, generator=g)


def _lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.schedule == "constant":
            return 1.0
        t = (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))

    return f


def _fingerprint(cfg: TrainConfig, n: int) -> str:
    d = dataclasses.asdict(cfg)
    d.pop("progress"), d.pop("desc")
    return json.dumps({**d, "n": n}, sort_keys=True, default=str)


def _save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill never leaves half a checkpoint


@torch.no_grad()
def evaluate(model: nn.Module, data, loss_fn: LossFn, batch_size: int = 512, device=None) -> float:
    """Mean of ``loss_fn`` over ``data`` (weighted by batch size), in eval mode, without gradients."""
    data = _as_tuple(data)
    device = pick_device(device or "auto")
    was_training = model.training
    model.eval()
    total, n = 0.0, data[0].shape[0]
    for i in range(0, n, batch_size):
        batch = tuple(t[i : i + batch_size].to(device, non_blocking=True) for t in data)
        with autocast(device):
            total += float(loss_fn(model, batch)) * batch[0].shape[0]
    model.train(was_training)
    return total / n


@torch.no_grad()
def predict(model: nn.Module | Callable, x: torch.Tensor, batch_size: int = 512, device=None) -> torch.Tensor:
    """Apply ``model`` to ``x`` in batches, in eval mode; returns a float32 CPU tensor."""
    device = pick_device(device or "auto")
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    outs = []
    for i in range(0, x.shape[0], batch_size):
        with autocast(device):
            out = model(x[i : i + batch_size].to(device))
        outs.append(out.float().cpu())
    if isinstance(model, nn.Module):
        model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def fit(
    model: nn.Module,
    data,
    loss_fn: LossFn,
    cfg: TrainConfig,
    device: str | torch.device = "auto",
    val=None,
    checkpoint_dir: str | Path | None = None,
    params: Sequence[nn.Parameter] | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Train ``model`` in place and return its :class:`History`.

    Args:
        model: the network; moved to ``device``.
        data: a tensor or tuple of tensors sharing the first dimension (kept on the CPU; each batch
            is moved to the device).
        loss_fn: ``loss_fn(model, batch) -> scalar`` mean loss over the batch.
        cfg: the :class:`TrainConfig`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        val: optional validation data, same form as ``data``; its loss is recorded each epoch.
        checkpoint_dir: where to keep ``checkpoint.pt`` after every epoch; if a checkpoint of the
            same configuration is there, training resumes from it.
        params: the parameters to optimise (default: all that require grad).
        on_epoch_end: called as ``on_epoch_end(epoch, history)`` after each epoch (and checkpoint).
    """
    data = _as_tuple(data)
    val = _as_tuple(val) if val is not None else None
    device = pick_device(device)
    model.to(device)
    rank, world = _dist()
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.batch_size < world:
        raise ValueError(f"batch_size {cfg.batch_size} is smaller than the {world} distributed ranks")

    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: everything is frozen")
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
    n = data[0].shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps_per_epoch * cfg.epochs))

    hist = History(desc=cfg.desc)
    start_epoch = 0
    ckpt = Path(checkpoint_dir) / "checkpoint.pt" if checkpoint_dir else None
    fp = _fingerprint(cfg, n)
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state.get("fingerprint") != fp:
            raise ValueError(f"checkpoint {ckpt} was written with another configuration; remove it or use another folder")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start_epoch = state["epoch"]
        hist = History(**state["history"])
        hist.resumed_from_epoch = start_epoch

    bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, desc=cfg.desc,
               disable=not cfg.progress or rank != 0, leave=False, mininterval=1.0)
    net.train()
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        perm = epoch_permutation(n, cfg.seed, epoch)
        total, seen = 0.0, 0
        for s in range(0, n, cfg.batch_size):
            idx = perm[s : s + cfg.batch_size]
            if idx.numel() < world:  # a last batch too small to give every rank a sample
                continue
            local = idx[rank::world]
            batch = tuple(t[local].to(device, non_blocking=True) for t in data)
            # the first step of a run is counted (FLOPs of forward + backward); counting does not change the numbers
            counter = FlopCounterMode(display=False) if hist.flops_per_sample is None and hist.steps == 0 else None
            with counter or contextlib.nullcontext():
                with autocast(device):
                    loss = loss_fn(net, batch)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{cfg.desc}: loss became {loss.item()} at epoch {epoch}, step {hist.steps}")
                # DDP averages gradients over ranks; weighting by the local share makes that the mean
                # over the global batch even when the ranks' shares differ by one.
                (loss * (local.numel() * world / idx.numel())).backward()
            if counter is not None:
                hist.flops_per_sample = counter.get_total_flops() / local.numel()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            loss_value = float(loss.detach())
            total += loss_value * local.numel()
            seen += local.numel()
            hist.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.4g}", refresh=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        hist.train_time_s += time.perf_counter() - t0
        hist.train_loss.append(total / max(seen, 1))
        hist.samples += seen
        if val is not None:
            hist.val_loss.append(evaluate(model, val, loss_fn, device=device))
        hist.epoch_time_s.append(time.perf_counter() - t0)
        if ckpt is not None and rank == 0:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            h = dataclasses.asdict(hist)
            _save(ckpt, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "epoch": epoch + 1, "history": h, "fingerprint": fp, "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            })
        if on_epoch_end is not None:
            on_epoch_end(epoch, hist)
    bar.close()
    net.eval()
    if _fit_recorder is not None and rank == 0:
        _fit_recorder(hist)
    return hist
