"""The book's chapters: one module per paper, each with a frozen config per mode.

A chapter module ``astrorepro.chapters.<key>`` defines ``INFO`` (a :class:`ChapterInfo`),
``Config`` (a frozen dataclass), ``CONFIGS = {"quick": ..., "full": ...}`` and the experiment
functions its notebook calls. A notebook starts with::

    run = chapters.start("lmd", mode=mode, seed=seed, device=device)
    cfg = run.cfg
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

from .. import plots
from ..device import pick_device
from ..scorecard import Scorecard
from ..train import set_fit_recorder
from ._base import MODES, ChapterInfo, Run, seed_everything

#: The chapters of the book, in reading order. Only these are executed by ``astrorepro run all``.
CHAPTERS: tuple[str, ...] = ("lmd", "spectra_llm", "specclip", "lvm", "iicnet")

__all__ = ["CHAPTERS", "MODES", "ChapterInfo", "Run", "get", "info", "config", "start", "seed_everything"]


def get(key: str) -> ModuleType:
    """The chapter module for ``key``; a clear error lists the chapters when it does not exist."""
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"unknown chapter {key!r}; choose from: {', '.join(CHAPTERS)}")
    try:
        mod = importlib.import_module(f"{__name__}.{key}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{key}":
            raise
        raise ValueError(f"unknown chapter {key!r}; choose from: {', '.join(CHAPTERS)}") from None
    for attr in ("INFO", "Config", "CONFIGS"):
        if not hasattr(mod, attr):
            raise ValueError(f"chapter module {mod.__name__} lacks {attr}")
    return mod


def info(key: str) -> ChapterInfo:
    """The :class:`ChapterInfo` of a chapter."""
    return get(key).INFO


def config(key: str, mode: str = "quick", **overrides):
    """The frozen config of chapter ``key`` in ``mode``, with field overrides checked by name."""
    mod = get(key)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from: {', '.join(MODES)}")
    cfg = mod.CONFIGS[mode]
    names = {f.name for f in dataclasses.fields(cfg)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise ValueError(f"unknown config field(s) {', '.join(bad)} for chapter {key!r}; allowed: {', '.join(sorted(names))}")
    return dataclasses.replace(cfg, **overrides)


def start(key: str, mode: str = "quick", seed: int = 0, device: str = "auto", **overrides) -> Run:
    """Begin a run of chapter ``key``: seed everything, pick the device, set the plot style.

    Args:
        key: chapter key, e.g. ``"lmd"``.
        mode: ``"quick"`` (CPU, minutes) or ``"full"`` (GPU, paper scale).
        seed: seed of every random number generator the chapter uses.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        **overrides: replace fields of the chapter's config.
    """
    mod = get(key)
    cfg = config(key, mode, **overrides)
    rng = seed_everything(seed)
    dev = pick_device(device)
    plots.use_style()
    run = Run(info=mod.INFO, mode=mode, seed=int(seed), cfg=cfg, device=dev, rng=rng,
              scorecard=Scorecard(chapter=key, mode=mode))
    # every training run of the chapter reports its throughput to this run (until run.finish())
    set_fit_recorder(lambda hist: run.record_throughput(hist.desc or "train", hist))
    return run
