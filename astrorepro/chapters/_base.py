"""What every chapter shares: its identity card and the run object a notebook works with."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import provenance
from ..device import describe, peak_flops
from ..paths import run_dir
from ..scorecard import Scorecard
from ..train import set_fit_recorder

MODES = ("quick", "full")


@dataclass(frozen=True)
class ChapterInfo:
    """Identity of a chapter: its key, title, the paper it reproduces and its quick-mode budget."""

    key: str
    title: str
    paper: str
    arxiv: str
    notebook: str
    budget_quick_s: int


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch (CPU and CUDA); returns a numpy Generator seeded with ``seed``."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


@dataclass
class Run:
    """One execution of a chapter: its config, device, seeds and scorecard.

    Created by :func:`astrorepro.chapters.start`; the notebook ends with :meth:`finish`.
    """

    info: ChapterInfo
    mode: str
    seed: int
    cfg: Any
    device: torch.device
    rng: np.random.Generator
    scorecard: Scorecard
    t0: float = field(default_factory=time.perf_counter)
    throughput: dict = field(default_factory=dict)

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.t0

    def record_throughput(self, step: str, history) -> None:
        """Add one training run (a :class:`astrorepro.train.History`) to the throughput of ``step``.

        :func:`astrorepro.chapters.start` has every ``fit`` of the chapter call this with its progress-bar
        label as ``step``, so repeated fits of one kind (heads, baselines) add up. The figures (samples
        per second, achieved TFLOP/s and, on a GPU of known peak, the fraction of that peak) go into the
        scorecard's provenance and onto the book's execution-statistics page.
        """
        t = self.throughput.setdefault(step, {"samples": 0, "seconds": 0.0, "flops": 0.0, "counted": True})
        seconds = history.train_time_s or sum(history.epoch_time_s)
        t["samples"] += int(history.samples)
        t["seconds"] += float(seconds)
        if history.flops_per_sample is None:
            t["counted"] = False
        else:
            t["flops"] += history.flops_per_sample * history.samples

    def throughput_table(self) -> dict:
        """Per training step: samples, seconds, samples/s, TFLOP/s and the fraction of the device's peak."""
        peak = peak_flops(self.device)
        out = {}
        for step, t in self.throughput.items():
            s = t["seconds"]
            rate = t["flops"] / s if s > 0 and t["counted"] else None
            out[step] = {"samples": t["samples"], "seconds": round(s, 2),
                         "samples_per_s": round(t["samples"] / s, 1) if s > 0 else None,
                         "tflops": None if rate is None else float(f"{rate / 1e12:.4g}"),
                         "peak_fraction": None if rate is None or peak is None else float(f"{rate / peak:.4g}")}
        return out

    def finish(self, display: bool = True):
        """Record provenance, write the scorecard JSON, show the table; raise on a failed must-hold claim.

        In quick mode (what CI runs) a must-hold failure raises :class:`ScorecardError`; in full mode
        it is reported in the table and the JSON but does not stop the notebook.
        Returns the scorecard table (a DataFrame).
        """
        sc = self.scorecard
        sc.provenance = provenance.record(
            chapter=self.info.key, mode=self.mode, seed=self.seed, device=describe(self.device),
            wall_time_s=self.elapsed(),
        )
        sc.provenance["budget_quick_s"] = self.info.budget_quick_s
        sc.provenance["throughput"] = self.throughput_table()
        peak = peak_flops(self.device)
        sc.provenance["device_peak_tflops"] = None if peak is None else peak / 1e12
        set_fit_recorder(None)  # later fits are not charged to this run
        sc.save(run_dir() / f"{self.info.key}.scorecard.json")
        table = sc.table()
        if display:
            print(sc.summary())
        sc.check(raise_on_failure=self.quick)
        return table

    def show_provenance(self):
        """The provenance of this run as a one-column table (after :meth:`finish`)."""
        import pandas as pd

        prov = self.scorecard.provenance or {"note": "call run.finish() first"}
        return pd.DataFrame({"value": [str(v) for v in prov.values()]}, index=pd.Index(list(prov), name="provenance"))
