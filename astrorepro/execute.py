"""Executing the book's notebooks with papermill, one or several at a time.

Each chapter notebook has a ``parameters`` cell of plain literals (``mode``, ``seed``, ``device``,
...). :func:`notebook_parameters` reads it without starting a kernel, so that a wrong parameter is
refused before any work starts; :func:`execute` runs one notebook into the build folder with its
scorecard written beside it; :func:`execute_many` runs several in parallel processes, sharing the
CPU cores between them.
"""

from __future__ import annotations

import ast
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .paths import BOOK_DIR, RUN_DIR_ENV, run_dir

#: Parameters set by their own command-line flags rather than ``-p``.
RESERVED = ("mode", "seed")


def notebook_parameters(path: str | Path) -> dict:
    """The literals of the notebook's cell tagged ``parameters``, as ``{name: value}``.

    Raises:
        FileNotFoundError: when the notebook does not exist.
        ValueError: when it has no (or more than one) ``parameters`` cell, or that cell holds
            anything but ``name = literal`` assignments.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    nb = json.loads(path.read_text())
    cells = [c for c in nb.get("cells", []) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path.name} must have exactly one cell tagged 'parameters', found {len(cells)}")
    src = "".join(cells[0]["source"]) if isinstance(cells[0]["source"], list) else cells[0]["source"]
    params = {}
    for node in ast.parse(src).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
        if not isinstance(target, ast.Name) or node.value is None:
            raise ValueError(f"{path.name}: the parameters cell may hold only 'name = literal' lines")
        try:
            params[target.id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{path.name}: parameter {target.id!r} is not a plain literal") from None
    return params


def coerce(name: str, text: str, default):
    """Convert a command-line string to the type of the parameter's default value."""
    if isinstance(default, bool):
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"parameter {name!r} takes true or false, got {text!r}")
    for typ in (int, float):
        if isinstance(default, typ):
            try:
                return typ(text)
            except ValueError:
                raise ValueError(f"parameter {name!r} takes a {typ.__name__}, got {text!r}") from None
    if default is None or isinstance(default, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"parameter {name!r} takes a {type(default).__name__} literal, got {text!r}") from None


@dataclass(frozen=True)
class Job:
    """One notebook to execute."""

    name: str
    notebook: Path
    parameters: dict
    output_dir: Path
    threads: int = 0  # 0: leave the kernel's default


@dataclass(frozen=True)
class Result:
    name: str
    output: Path
    seconds: float
    error: str = ""


def execute(job: Job) -> Result:
    """Run one notebook with papermill into ``job.output_dir``; errors are returned, not raised."""
    import papermill

    job.output_dir.mkdir(parents=True, exist_ok=True)
    os.environ[RUN_DIR_ENV] = str(job.output_dir.resolve())
    if job.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(job.threads)
    out = job.output_dir / job.notebook.name
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(job.notebook), str(out), parameters=job.parameters, kernel_name="python3",
            cwd=str(job.notebook.parent), progress_bar=False, log_output=False,
        )
    except Exception as exc:  # noqa: BLE001 - reported to the caller with the notebook's name
        msg = str(exc).strip().splitlines()
        return Result(job.name, out, time.perf_counter() - t0, error="\n".join(msg[-12:]) or type(exc).__name__)
    _embed_provenance(out, job.output_dir / f"{job.name}.scorecard.json")
    return Result(job.name, out, time.perf_counter() - t0)


def _embed_provenance(notebook: Path, card: Path) -> None:
    """Copy the run's provenance (from its scorecard) into the executed notebook's metadata.

    A committed executed notebook then says by itself which mode, seed, device, library version and
    commit produced its outputs (``metadata.astrorepro``), which the staleness test checks.
    """
    if not card.is_file():
        return
    nb = json.loads(notebook.read_text())
    nb.setdefault("metadata", {})["astrorepro"] = json.loads(card.read_text())["provenance"]
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute_many(jobs: list[Job], workers: int = 1) -> list[Result]:
    """Execute ``jobs`` with up to ``workers`` processes; the CPU cores are split between them."""
    if workers <= 1 or len(jobs) <= 1:
        return [execute(j) for j in jobs]
    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [Job(j.name, j.notebook, j.parameters, j.output_dir, j.threads or threads) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(execute, jobs))


def chapter_job(key: str, mode: str = "quick", seed: int = 0, extra: dict | None = None,
                output_dir: Path | None = None) -> Job:
    """The :class:`Job` of chapter ``key``, its parameters checked against the notebook's cell."""
    from . import chapters

    info = chapters.info(key)
    nb = BOOK_DIR / info.notebook
    allowed = notebook_parameters(nb)
    params = {"mode": mode, "seed": seed}
    for name, value in (extra or {}).items():
        if name in RESERVED:
            raise ValueError(f"set {name!r} with --{name}, not -p")
        if name not in allowed:
            raise ValueError(f"unknown parameter {name!r} for chapter {key!r}; allowed: {', '.join(sorted(set(allowed) - set(RESERVED)))}")
        params[name] = coerce(name, value, allowed[name]) if isinstance(value, str) else value
    return Job(key, nb, params, output_dir or run_dir())
