"""Throughput of the library's simulators (a benchmark that reports figures, not a timed test).

Targets from issue 3, on 2 CPU cores:

- >= 1,000 paired stars per second, a pair being one star's labels + its LAMOST LRS spectrum on the
  native 3904-pixel grid (the 1462-pixel SpecCLIP and 3598-pixel wide windows are slices of it,
  included) + its Gaia XP spectrum (343 samples);
- >= 500 DECaLS-like 64x64 g,r,z galaxy stamps per second;
- >= 2,000 WISE 32x32 W1-W4 cutouts per second.

The simulators are single-threaded numpy/scipy: one core reaches a target, two processes double it.
Run ``python benchmarks/bench_simulators.py``. Rates are printed for wall time and for CPU time (on a
shared machine wall time measures the other jobs too; on an idle core the two agree).
"""

from __future__ import annotations

import time


def _rates(fn, n: int, repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) items per second over ``repeats`` calls of ``fn(n, seed)``, after a warm-up."""
    fn(min(n, 64), 0)  # warm-up: cached profile matrices, curve-of-growth table, PSF transfer functions
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


def bench_galaxies(n: int = 2000, repeats: int = 3) -> tuple[float, float]:
    """Stamps per second of :func:`astrorepro.data.galaxies.simulate_galaxies` (64x64, 3 bands)."""
    from astrorepro.data.galaxies import simulate_galaxies

    return _rates(lambda k, s: simulate_galaxies(k, seed=s), n, repeats)


def bench_wise(n: int = 10000, repeats: int = 3) -> tuple[float, float]:
    """Cutouts per second of :func:`astrorepro.data.wise.simulate_wise` (32x32, 4 bands)."""
    from astrorepro.data.wise import simulate_wise

    return _rates(lambda k, s: simulate_wise(k, seed=s), n, repeats)


def bench_fields(n: int = 200, repeats: int = 2) -> tuple[float, float]:
    """Fields per second of :func:`astrorepro.data.fields.simulate_fields` (128x128, with boxes)."""
    from astrorepro.data.fields import simulate_fields

    return _rates(lambda k, s: simulate_fields(k, seed=s), n, repeats)


TARGETS = {"bench_stars": 1000, "bench_galaxies": 500, "bench_wise": 2000}

if __name__ == "__main__":
    for name, fn in [(k, v) for k, v in dict(globals()).items() if k.startswith("bench_") and callable(v)]:
        wall, cpu = fn()
        target = f"   (target {TARGETS[name]}/s on 2 cores)" if name in TARGETS else ""
        print(f"{name:24s}: {wall:8.0f} /s wall   {cpu:8.0f} /s CPU{target}")
