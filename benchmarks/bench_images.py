"""Throughput of the image simulators (benchmark, not a timed test).

Targets from issue 3: >= 500 DECaLS-like 64x64 g,r,z stamps per second and >= 2,000 WISE 32x32
W1-W4 cutouts per second on 2 CPU cores. The simulators are single-threaded numpy/scipy (one core
reaches the targets; two processes double the rate). Run ``python benchmarks/bench_images.py``,
or ``benchmarks/bench_simulators.py``, which also runs the ``bench_*`` functions here.
"""

from __future__ import annotations

import time


def _rate(fn, n: int, repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) items per second over ``repeats`` calls of ``fn(n, seed)``, after a warm-up.

    The machine may be shared: wall time then measures the other jobs too; on an idle core the
    two agree.
    """
    fn(min(n, 64), 0)  # warm-up (imports, PSF transfer-function table)
    wall = cpu = float("inf")
    for r in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(n, r + 1)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return n / wall, n / cpu


def bench_galaxies(n: int = 2000, repeats: int = 3) -> tuple[float, float]:
    """Stamps per second of :func:`astrorepro.data.galaxies.simulate_galaxies` (64x64, 3 bands)."""
    from astrorepro.data.galaxies import simulate_galaxies

    return _rate(lambda k, s: simulate_galaxies(k, seed=s), n, repeats)


def bench_wise(n: int = 10000, repeats: int = 3) -> tuple[float, float]:
    """Cutouts per second of :func:`astrorepro.data.wise.simulate_wise` (32x32, 4 bands)."""
    from astrorepro.data.wise import simulate_wise

    return _rate(lambda k, s: simulate_wise(k, seed=s), n, repeats)


def bench_fields(n: int = 200, repeats: int = 2) -> tuple[float, float]:
    """Fields per second of :func:`astrorepro.data.fields.simulate_fields` (128x128)."""
    from astrorepro.data.fields import simulate_fields

    return _rate(lambda k, s: simulate_fields(k, seed=s), n, repeats)


if __name__ == "__main__":
    for name, fn, target in (("galaxies 64x64x3", bench_galaxies, 500), ("WISE 32x32x4", bench_wise, 2000),
                             ("fields 128x128x3", bench_fields, None)):
        wall, cpu = fn()
        tgt = f"   (target {target}/s on 2 cores)" if target else ""
        print(f"{name:18s}: {wall:8.0f} /s wall   {cpu:8.0f} /s CPU{tgt}")
