"""Throughput of the library's simulators (benchmark, not a timed test).

Target from issue 3: >= 1,000 paired stars per second on 2 CPU cores, a pair being one star's
labels + its LAMOST LRS spectrum on the native 3904-pixel grid (from which the 1462-pixel SpecCLIP
and 3598-pixel wide windows are slices, included) + its Gaia XP spectrum (343 samples).
Run ``python benchmarks/bench_simulators.py``; every function named ``bench_*`` here (and in
``bench_images.py`` beside it, if present) is run. Rates are printed for wall time and for CPU time
(the machine may be shared: wall time then measures other jobs too).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path


def _rates(fn, n: int, repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) items per second over ``repeats`` calls of ``fn(n, seed)``, after a warm-up."""
    fn(min(n, 64), 0)  # warm-up: builds the cached profile matrices and the curve-of-growth table
    wall = cpu = float("inf")
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(n, r + 1)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return n / wall, n / cpu


def bench_stars(n: int = 4096, repeats: int = 3) -> tuple[float, float]:
    """Paired stars per second of :func:`astrorepro.data.stars.simulate_stars` (LAMOST + XP views)."""
    from astrorepro.data.stars import simulate_stars

    return _rates(lambda k, s: simulate_stars(k, seed=s, views=("lamost", "specclip", "wide", "xp")), n, repeats)


def bench_stars_lamost_only(n: int = 4096, repeats: int = 3) -> tuple[float, float]:
    """Stars per second with the LAMOST views only."""
    from astrorepro.data.stars import simulate_stars

    return _rates(lambda k, s: simulate_stars(k, seed=s, views=("lamost",)), n, repeats)


def bench_stars_xp_only(n: int = 4096, repeats: int = 3) -> tuple[float, float]:
    """Stars per second with the Gaia XP view only."""
    from astrorepro.data.stars import simulate_stars

    return _rates(lambda k, s: simulate_stars(k, seed=s, views=("xp",)), n, repeats)


def _other_benchmarks() -> dict:
    """``bench_*`` functions of ``bench_images.py`` beside this file (another helper's), if present."""
    path = Path(__file__).with_name("bench_images.py")
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("bench_images", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return {k: getattr(mod, k) for k in dir(mod) if k.startswith("bench_") and callable(getattr(mod, k))}


if __name__ == "__main__":
    mine = {k: v for k, v in dict(globals()).items() if k.startswith("bench_") and callable(v)}
    for name, fn in {**mine, **_other_benchmarks()}.items():
        res = fn()
        if isinstance(res, tuple):
            print(f"{name:26s}: {res[0]:8.0f} /s wall   {res[1]:8.0f} /s CPU" + (
                "   (target 1000 paired stars/s on 2 cores)" if name == "bench_stars" else ""))
        else:
            print(f"{name:26s}: {res:8.0f} /s")
