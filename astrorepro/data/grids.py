"""Wavelength grids of the real instruments the stellar simulators and loaders work on.

Every grid here is an instrument fact, not a modelling choice:

* ``lamost``: the LAMOST low-resolution (LRS) pipeline grid. The FITS header keys ``COEFF0 = 3.5682``
  and ``COEFF1 = 1e-4`` give vacuum wavelengths ``10**(COEFF0 + COEFF1 * i)``; DR1 files have 3904
  pixels (3700.0-9088.7 A; a few have 3908 or 3909). Resolving power R ~ 1800.
* ``specclip``: the 1462-pixel LAMOST window used by SpecCLIP (Zhao et al. 2025, Sec. 3.2 of our
  spec): ``log10 lambda = 3.602 + 1e-4 * i``, 3999.4-5598.9 A. It lies exactly on LAMOST pixels
  (3.602 = 3.5682 + 338e-4), so it is a slice of the native grid.
* ``wide``: the 3800-8700 A window of Spectra-as-Language (Lu et al. 2026): the LAMOST pixels whose
  wavelength lies in [3800, 8700] A (3598 pixels).
* ``xp``: the Gaia XP sampled-spectrum grid, 336-1020 nm every 2 nm (343 points), the GaiaXPy default
  sampling; stored in Angstrom here like the others (3360-10200 A).

Wavelengths are in Angstrom (vacuum) throughout the ``astrorepro.data`` stellar modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: LAMOST LRS header constants (log10 of the first pixel's wavelength, log10 step).
LAMOST_COEFF0 = 3.5682
LAMOST_COEFF1 = 1e-4
LAMOST_NPIX = 3904
LAMOST_R = 1800.0

SPECCLIP_LOG0 = 3.602
SPECCLIP_NPIX = 1462
WIDE_RANGE = (3800.0, 8700.0)

XP_WAVE_NM = np.arange(336.0, 1021.0, 2.0)  # 343 points
XP_NORM_NM = 550.0
XP_NORM_INDEX = int(np.argmin(np.abs(XP_WAVE_NM - XP_NORM_NM)))  # = 107

C_KMS = 299792.458


@dataclass(frozen=True)
class Grid:
    """A wavelength grid.

    Attributes:
        name: registry name (``lamost``, ``specclip``, ``wide``, ``xp``).
        wave: wavelengths in Angstrom, shape (n_pix,), float64, increasing.
        loglinear: True when ``log10(wave)`` is evenly spaced.
        resolution: nominal resolving power lambda / FWHM (XP: a representative value).
        start: index of the first pixel on the native LAMOST grid (``None`` for XP).
    """

    name: str
    wave: np.ndarray
    loglinear: bool
    resolution: float
    start: int | None = None

    @property
    def n_pix(self) -> int:
        return int(self.wave.size)

    def __repr__(self) -> str:  # arrays make the default repr unreadable
        return (f"Grid({self.name!r}, n_pix={self.n_pix}, {self.wave[0]:.1f}-{self.wave[-1]:.1f} A, "
                f"R~{self.resolution:g})")


def loglinear_wave(coeff0: float, coeff1: float, n_pix: int) -> np.ndarray:
    """``10**(coeff0 + coeff1 * arange(n_pix))`` in float64 (the LAMOST FITS convention)."""
    if n_pix <= 0:
        raise ValueError(f"n_pix must be positive, got {n_pix}")
    return 10.0 ** (coeff0 + coeff1 * np.arange(n_pix, dtype=np.float64))


def lamost_wave(n_pix: int = LAMOST_NPIX) -> np.ndarray:
    """The LAMOST LRS native wavelength grid (vacuum Angstrom)."""
    return loglinear_wave(LAMOST_COEFF0, LAMOST_COEFF1, n_pix)


@lru_cache(maxsize=None)
def get_grid(name: str) -> Grid:
    """Return one of the named grids: ``lamost``, ``specclip``, ``wide`` or ``xp``.

    Raises:
        ValueError: for an unknown name.
    """
    if name == "lamost":
        return Grid("lamost", lamost_wave(), True, LAMOST_R, 0)
    if name == "specclip":
        start = int(round((SPECCLIP_LOG0 - LAMOST_COEFF0) / LAMOST_COEFF1))
        return Grid("specclip", lamost_wave()[start:start + SPECCLIP_NPIX], True, LAMOST_R, start)
    if name == "wide":
        w = lamost_wave()
        idx = np.flatnonzero((w >= WIDE_RANGE[0]) & (w <= WIDE_RANGE[1]))
        return Grid("wide", w[idx[0]:idx[-1] + 1], True, LAMOST_R, int(idx[0]))
    if name == "xp":
        return Grid("xp", XP_WAVE_NM * 10.0, False, 50.0, None)
    raise ValueError(f"unknown grid {name!r}; expected one of {GRID_NAMES}")


GRID_NAMES = ("lamost", "specclip", "wide", "xp")


def as_wave(grid: str | Grid | np.ndarray) -> np.ndarray:
    """Wavelength array (Angstrom) from a grid name, a :class:`Grid` or an array."""
    if isinstance(grid, str):
        return get_grid(grid).wave
    if isinstance(grid, Grid):
        return grid.wave
    w = np.asarray(grid, dtype=np.float64)
    if w.ndim != 1 or w.size < 2 or not np.all(np.diff(w) > 0):
        raise ValueError("a wavelength grid must be 1-D, with at least 2 strictly increasing values")
    return w


def air_to_vacuum(wave_air: np.ndarray) -> np.ndarray:
    """Air -> vacuum wavelength (Angstrom), Morton (2000) / Ciddor (1996) refractive index of air."""
    w = np.asarray(wave_air, dtype=np.float64)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s2) + 1.599740894897e-4 / (38.92568793293 - s2)
    return w * n
