"""Provenance of a run: what produced a set of numbers, recorded next to them.

Every scorecard carries the mode, device, seed, library version, git commit and wall time of the run
that computed it, so that a number on the book's scorecard page can be traced to its source.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys

from . import __version__
from .paths import REPO_DIR


def git_commit(short: bool = True) -> str:
    """The repository's HEAD commit (``+dirty`` when the tree has changes), or ``"unknown"``."""
    try:
        args = ["git", "-C", str(REPO_DIR), "rev-parse", "--short" if short else "--verify", "HEAD"]
        commit = subprocess.run(args, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        return commit + ("+dirty" if status else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment() -> dict:
    """Versions and hardware of this process: python, torch, numpy, platform, CPU count."""
    import numpy
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "executable": sys.executable,
    }


def record(*, chapter: str, mode: str, seed: int, device: str, wall_time_s: float) -> dict:
    """The provenance dict stored with a scorecard."""
    return {
        "chapter": chapter,
        "mode": mode,
        "seed": seed,
        "device": device,
        "astrorepro_version": __version__,
        "git_commit": git_commit(),
        "wall_time_s": round(float(wall_time_s), 1),
        "finished_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        **environment(),
    }


def execution_table(folder, keys):
    """Wall time, budget and throughput of each executed chapter, read from its scorecard and notebook.

    ``folder`` holds ``<key>.scorecard.json`` and the executed notebooks (papermill records each
    notebook's duration in its metadata). One row per chapter; chapters not executed are marked so.
    """
    import json
    from pathlib import Path

    import pandas as pd

    from . import chapters

    folder = Path(folder)
    rows = []
    for key in keys:
        info = chapters.info(key)
        row = {"chapter": key, "quick budget (s)": info.budget_quick_s}
        card = folder / f"{key}.scorecard.json"
        nb = folder / info.notebook
        if not card.is_file():
            rows.append({**row, "mode": "not executed"})
            continue
        p = json.loads(card.read_text())["provenance"]
        duration = None
        if nb.is_file():
            duration = json.loads(nb.read_text()).get("metadata", {}).get("papermill", {}).get("duration")
        tp = p.get("throughput") or {}
        main = max(tp.items(), key=lambda kv: kv[1].get("seconds") or 0, default=(None, None))
        row.update({
            "mode": p.get("mode"), "device": p.get("device"), "seed": p.get("seed"),
            "chapter wall time (s)": p.get("wall_time_s"),
            "notebook wall time (s)": round(duration, 1) if duration else None,
            "within budget": (duration or p.get("wall_time_s", 0)) <= info.budget_quick_s if p.get("mode") == "quick" else None,
            "main training step": main[0] or "-",
            "samples / s": main[1].get("samples_per_s") if main[1] else None,
            "TFLOP/s": main[1].get("tflops") if main[1] else None,
            "fraction of peak": main[1].get("peak_fraction") if main[1] else None,
        })
        rows.append(row)
    return pd.DataFrame(rows).set_index("chapter")


def throughput_table(folder, keys, top: int | None = 3):
    """The ``top`` longest training steps of each executed chapter (all with ``top=None``): samples,
    seconds, samples/s, achieved TFLOP/s and the fraction of the device's dense bf16 peak (GPUs of
    known peak only), read from the scorecards."""
    import json
    from pathlib import Path

    import pandas as pd

    rows = []
    for key in keys:
        card = Path(folder) / f"{key}.scorecard.json"
        if not card.is_file():
            continue
        p = json.loads(card.read_text())["provenance"]
        steps = sorted((p.get("throughput") or {}).items(), key=lambda kv: -(kv[1].get("seconds") or 0))
        for step, t in steps[:top]:
            rows.append({"chapter": key, "training step": step, "device": p.get("device"),
                         "samples": t.get("samples"), "seconds": t.get("seconds"),
                         "samples / s": t.get("samples_per_s"), "TFLOP/s": t.get("tflops"),
                         "fraction of peak": t.get("peak_fraction")})
    cols = ["chapter", "training step", "device", "samples", "seconds", "samples / s", "TFLOP/s", "fraction of peak"]
    return pd.DataFrame(rows, columns=cols).set_index(["chapter", "training step"])
