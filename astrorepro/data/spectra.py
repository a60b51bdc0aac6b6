"""The ``Spectra`` container shared by the stellar simulators and the real-data loaders.

A :class:`Spectra` holds N spectra on one wavelength grid: ``wave`` (n_pix,) in Angstrom, ``flux``,
``ivar`` (inverse variance) and ``mask`` (True = bad pixel), all (N, n_pix), plus ``ids`` and a
``meta`` dict of per-spectrum columns (labels, S/N, file names...). Simulators and loaders return the
same object, so every model sees simulated and real spectra through one interface.

Invariants enforced at construction: flux/ivar are float32; a pixel is bad (``mask`` True) when its
flux or ivar is not finite, its ivar is <= 0, or the caller flagged it; bad pixels have ivar = 0 and
a finite flux (0). Models must never read bad pixels as data: use :meth:`Spectra.filled` (linear
interpolation over bad pixels) or the ivar weights.

Operations (each returns a new object, never modifies in place):

* :meth:`resample`: linear interpolation onto another grid (in log lambda), variance propagated as
  ``(1-t)^2 var_j + t^2 var_{j+1}`` (pixel covariance ignored); an output pixel is bad when a
  contributing input pixel is bad or when it lies outside the input range.
* :meth:`continuum_normalise`: SpecCLIP/GASPP-style pseudo-continuum: 7-pixel median filter, then an
  iterative, asymmetrically clipped Legendre polynomial fit (order 5 blueward of 5850 A, order 4
  redward; points more than 2 sigma below or 3 sigma above the fit are rejected, 5 iterations),
  batched over spectra via the normal equations.
* :meth:`normalise`: divide by the median of the good pixels (``"median"``, the convention of the
  real Gaia XP + APOGEE file) or by the flux at a wavelength (``"550nm"``, SpecCLIP's XP convention).
* :meth:`standardise`: per-spectrum ``(x - mu) / sigma`` over good pixels (SpecCLIP Sec. 3.2).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.ndimage import median_filter

from astrorepro.data.grids import Grid, as_wave


@dataclass(frozen=True)
class Spectra:
    """N spectra on a common wavelength grid.

    Attributes:
        wave: wavelengths [Angstrom], (n_pix,), strictly increasing.
        flux: (N, n_pix) float32.
        ivar: (N, n_pix) float32 inverse variance; 0 at bad pixels.
        mask: (N, n_pix) bool, True = bad pixel.
        ids: (N,) identifiers (file names, Gaia source ids, ``sim-...``).
        meta: per-spectrum columns, each an array of length N (labels, S/N ...).
        grid: name of the grid when it is one of :mod:`astrorepro.data.grids` (else None).
        norm: how ``flux`` is normalised: ``none``, ``median``, ``550nm``, ``continuum``.
        source: where the spectra come from (``sim:<view>`` or a file path).
    """

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    ids: np.ndarray
    meta: dict = field(default_factory=dict)
    grid: str | None = None
    norm: str = "none"
    source: str = ""

    def __post_init__(self) -> None:
        wave = np.asarray(self.wave, dtype=np.float64)
        flux = np.atleast_2d(np.asarray(self.flux, dtype=np.float32))
        ivar = np.atleast_2d(np.asarray(self.ivar, dtype=np.float32))
        mask = np.atleast_2d(np.asarray(self.mask, dtype=bool))
        what = f" ({self.source})" if self.source else ""
        if wave.ndim != 1 or wave.size < 2 or not np.all(np.diff(wave) > 0):
            raise ValueError(f"Spectra{what}: wave must be 1-D and strictly increasing")
        if flux.shape[1] != wave.size or ivar.shape != flux.shape or mask.shape != flux.shape:
            raise ValueError(f"Spectra{what}: flux {flux.shape}, ivar {ivar.shape} and mask {mask.shape} "
                             f"must all be (N, {wave.size})")
        bad = mask | ~np.isfinite(flux) | ~np.isfinite(ivar) | (ivar <= 0)
        if (bad & ((flux != 0) | (ivar != 0))).any():
            flux = np.where(bad, np.float32(0), flux)
            ivar = np.where(bad, np.float32(0), ivar)
        ids = np.asarray(self.ids)
        if ids.shape != (flux.shape[0],):
            raise ValueError(f"Spectra{what}: ids must have shape ({flux.shape[0]},), got {ids.shape}")
        meta = {k: np.asarray(v) for k, v in dict(self.meta).items()}
        for k, v in meta.items():
            if v.shape[:1] != (flux.shape[0],):
                raise ValueError(f"Spectra{what}: meta column {k!r} has length {v.shape[:1]}, expected {flux.shape[0]}")
        for name, val in (("wave", wave), ("flux", flux), ("ivar", ivar), ("mask", bad), ("ids", ids), ("meta", meta)):
            object.__setattr__(self, name, val)

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return int(self.flux.shape[0])

    @property
    def n_pix(self) -> int:
        return int(self.wave.size)

    def __repr__(self) -> str:
        return (f"Spectra(n={len(self)}, n_pix={self.n_pix}, {self.wave[0]:.1f}-{self.wave[-1]:.1f} A, "
                f"grid={self.grid!r}, norm={self.norm!r}, bad={self.mask.mean():.2%}, source={self.source!r})")

    def __getitem__(self, idx) -> "Spectra":
        """Row subset (int, slice, index array or boolean mask); always returns a Spectra."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        return replace(self, flux=self.flux[idx], ivar=self.ivar[idx], mask=self.mask[idx], ids=self.ids[idx],
                       meta={k: v[idx] for k, v in self.meta.items()})

    def window(self, start: int, stop: int, grid: str | None = None, source: str | None = None) -> "Spectra":
        """Pixels ``start:stop`` (views of the same arrays, no copy and no re-validation)."""
        if not 0 <= start < stop <= self.n_pix:
            raise ValueError(f"window {start}:{stop} outside 0:{self.n_pix}")
        out = copy.copy(self)
        for name in ("flux", "ivar", "mask"):
            object.__setattr__(out, name, getattr(self, name)[:, start:stop])
        object.__setattr__(out, "wave", self.wave[start:stop])
        object.__setattr__(out, "grid", grid)
        object.__setattr__(out, "source", self.source if source is None else source)
        return out

    @property
    def sigma(self) -> np.ndarray:
        """Per-pixel noise sigma; inf at bad pixels."""
        with np.errstate(divide="ignore"):
            return np.where(self.ivar > 0, 1.0 / np.sqrt(self.ivar), np.inf).astype(np.float32)

    def snr(self, wmin: float | None = None, wmax: float | None = None) -> np.ndarray:
        """Median per-pixel S/N (|flux| * sqrt(ivar)) over good pixels in [wmin, wmax]."""
        sel = np.ones(self.n_pix, bool)
        if wmin is not None:
            sel &= self.wave >= wmin
        if wmax is not None:
            sel &= self.wave <= wmax
        s = np.abs(self.flux[:, sel]) * np.sqrt(self.ivar[:, sel])
        s = np.where(self.mask[:, sel], np.nan, s)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(s, axis=1) if s.size else np.full(len(self), np.nan)

    def filled(self) -> np.ndarray:
        """Flux with bad pixels replaced by linear interpolation between the nearest good pixels.

        Bad runs at the ends take the nearest good value; an all-bad spectrum raises ValueError.
        """
        good = ~self.mask
        if not good.any(axis=1).all():
            raise ValueError(f"{self.source or 'Spectra'}: spectra {np.flatnonzero(~good.any(axis=1))[:5]} have no good pixel")
        if good.all():
            return self.flux.copy()
        n, p = self.flux.shape
        idx = np.broadcast_to(np.arange(p), (n, p))
        left = np.maximum.accumulate(np.where(good, idx, -1), axis=1)
        right = np.minimum.accumulate(np.where(good, idx, p)[:, ::-1], axis=1)[:, ::-1]
        left_f = np.where(left >= 0, left, right)
        right_f = np.where(right < p, right, left_f)
        left_f = np.where(left >= 0, left_f, right_f)
        fl = np.take_along_axis(self.flux, left_f, 1)
        fr = np.take_along_axis(self.flux, right_f, 1)
        span = (right_f - left_f).astype(np.float32)
        t = np.where(span > 0, (idx - left_f) / np.maximum(span, 1), 0.0).astype(np.float32)
        out = (1 - t) * fl + t * fr
        return np.where(good, self.flux, out).astype(np.float32)

    # ------------------------------------------------------------- transforms
    def resample(self, grid: str | Grid | np.ndarray) -> "Spectra":
        """Linear interpolation in log wavelength onto ``grid`` (see the module docstring)."""
        new_wave = as_wave(grid)
        x_old, x_new = np.log(self.wave), np.log(new_wave)
        j = np.clip(np.searchsorted(x_old, x_new, side="right") - 1, 0, self.n_pix - 2)
        t = ((x_new - x_old[j]) / (x_old[j + 1] - x_old[j])).astype(np.float32)
        outside = (x_new < x_old[0] - 1e-12) | (x_new > x_old[-1] + 1e-12)
        t = np.clip(t, 0, 1)
        f0, f1 = self.flux[:, j], self.flux[:, j + 1]
        with np.errstate(divide="ignore"):
            v = np.where(self.ivar > 0, 1.0 / self.ivar, 0.0).astype(np.float32)
        var = (1 - t) ** 2 * v[:, j] + t ** 2 * v[:, j + 1]
        bad = ((self.mask[:, j] & (t < 1 - 1e-6)) | (self.mask[:, j + 1] & (t > 1e-6)) | outside[None, :])
        with np.errstate(divide="ignore"):
            ivar = np.where(var > 0, 1.0 / var, 0.0)
        name = grid if isinstance(grid, str) else (grid.name if isinstance(grid, Grid) else None)
        return replace(self, wave=new_wave, flux=(1 - t) * f0 + t * f1, ivar=ivar, mask=bad, grid=name)

    def normalise(self, kind: str = "median") -> "Spectra":
        """Divide each spectrum by its median good flux (``"median"``) or by its flux at a wavelength.

        Args:
            kind: ``"median"`` or ``"<value>nm"`` / ``"<value>A"``, e.g. ``"550nm"`` (SpecCLIP's XP
                normalisation, flux linearly interpolated at 550 nm).

        Raises:
            ValueError: unknown kind, wavelength outside the grid, or a non-positive normaliser.
        """
        if kind == "median":
            f = np.where(self.mask, np.nan, self.flux)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                scale = np.nanmedian(f, axis=1)
        elif kind.endswith("nm") or kind.endswith("A"):
            w0 = float(kind[:-2]) * 10.0 if kind.endswith("nm") else float(kind[:-1])
            if not self.wave[0] <= w0 <= self.wave[-1]:
                raise ValueError(f"normalise({kind!r}): {w0} A is outside the grid {self.wave[0]:.0f}-{self.wave[-1]:.0f} A")
            filled = self.filled()
            j = int(np.clip(np.searchsorted(self.wave, w0) - 1, 0, self.n_pix - 2))
            t = (w0 - self.wave[j]) / (self.wave[j + 1] - self.wave[j])
            scale = (1 - t) * filled[:, j] + t * filled[:, j + 1]
        else:
            raise ValueError(f"unknown normalisation {kind!r}; use 'median' or e.g. '550nm'")
        scale = np.asarray(scale, np.float64)
        if not np.all(np.isfinite(scale) & (scale > 0)):
            bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
            raise ValueError(f"{self.source or 'Spectra'}: normaliser is not positive for spectra {bad[:5].tolist()} "
                             f"(ids {self.ids[bad[:5]].tolist()})")
        s = scale[:, None].astype(np.float32)
        return replace(self, flux=self.flux / s, ivar=self.ivar * s ** 2, norm=kind)

    def continuum(self, split: float = 5850.0, orders: tuple[int, int] = (5, 4), n_iter: int = 5,
                  low: float = 2.0, high: float = 3.0, filter_size: int = 7) -> np.ndarray:
        """Pseudo-continuum (N, n_pix) float32, the fit used by :meth:`continuum_normalise`."""
        y = median_filter(self.filled(), size=(1, filter_size), mode="nearest").astype(np.float64)
        cont = np.empty_like(y)
        for lo, hi, order in ((-np.inf, split, orders[0]), (split, np.inf, orders[1])):
            sel = (self.wave >= lo) & (self.wave < hi)
            if sel.sum() == 0:
                continue
            lw = np.log(self.wave[sel])
            x = 2 * (lw - lw[0]) / max(lw[-1] - lw[0], 1e-12) - 1
            V = np.polynomial.legendre.legvander(x, min(order, max(int(sel.sum()) - 1, 0)))  # (p, k)
            ys = y[:, sel]
            scale = np.maximum(np.median(np.abs(ys), axis=1, keepdims=True), 1e-30)
            ys = ys / scale
            w = (~self.mask[:, sel]).astype(np.float64)
            base = w.copy()
            for _ in range(n_iter):
                A = np.einsum("np,pk,pl->nkl", w, V, V) + 1e-8 * np.eye(V.shape[1])
                b = np.einsum("np,pk->nk", w * ys, V)
                c = np.linalg.solve(A, b[..., None])[..., 0]
                fit = c @ V.T
                r = ys - fit
                sd = np.sqrt(np.sum(w * r ** 2, axis=1, keepdims=True) / np.maximum(w.sum(1, keepdims=True), 1))
                new = base * ((r > -low * sd) & (r < high * sd))
                # never let the clipping starve a fit: keep the previous weights where too few points remain
                enough = new.sum(1, keepdims=True) > 2 * V.shape[1]
                w = np.where(enough, new, w)
            cont[:, sel] = fit * scale
        floor = 1e-3 * np.maximum(np.median(np.abs(y), axis=1, keepdims=True), 1e-30)
        return np.maximum(cont, floor).astype(np.float32)

    def continuum_normalise(self, **kw) -> "Spectra":
        """Divide by :meth:`continuum` (kwargs go there); ivar scales by continuum squared."""
        c = self.continuum(**kw)
        return replace(self, flux=self.flux / c, ivar=self.ivar * c ** 2, norm="continuum")

    def standardise(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-spectrum standardisation over good pixels (SpecCLIP Sec. 3.2).

        Returns:
            ``(x, mu, sigma)``: x (N, n_pix) float32 = (filled flux - mu) / sigma; mu, sigma (N,).
        """
        f = self.filled()
        w = ~self.mask
        n = np.maximum(w.sum(1), 1)
        mu = (f * w).sum(1) / n
        sd = np.sqrt((((f - mu[:, None]) ** 2) * w).sum(1) / n)
        sd = np.where(sd > 0, sd, 1.0)
        return ((f - mu[:, None]) / sd[:, None]).astype(np.float32), mu.astype(np.float32), sd.astype(np.float32)

    def labels(self, names: tuple[str, ...] | list[str]) -> np.ndarray:
        """Stack meta columns into an (N, len(names)) float32 array (KeyError names the missing one)."""
        missing = [n for n in names if n not in self.meta]
        if missing:
            raise KeyError(f"{self.source or 'Spectra'}: no label column(s) {missing}; have {sorted(self.meta)}")
        return np.stack([np.asarray(self.meta[n], dtype=np.float32) for n in names], axis=1)

    @staticmethod
    def concat(items: list["Spectra"]) -> "Spectra":
        """Concatenate spectra on the same grid (meta: the columns common to all)."""
        if not items:
            raise ValueError("concat needs at least one Spectra")
        w = items[0].wave
        for s in items[1:]:
            if s.wave.shape != w.shape or not np.allclose(s.wave, w, rtol=1e-10):
                raise ValueError("concat: spectra are on different wavelength grids; resample them first")
        keys = set(items[0].meta).intersection(*[set(s.meta) for s in items[1:]])
        return replace(items[0], flux=np.concatenate([s.flux for s in items]),
                       ivar=np.concatenate([s.ivar for s in items]), mask=np.concatenate([s.mask for s in items]),
                       ids=np.concatenate([s.ids for s in items]),
                       meta={k: np.concatenate([s.meta[k] for s in items]) for k in sorted(keys)})


def specclip_lrs_input(spec: Spectra) -> tuple[np.ndarray, np.ndarray]:
    """SpecCLIP LAMOST preprocessing: onto the 1462-px grid, continuum-normalise, standardise.

    Returns:
        ``(x, log10_sigma)``: standardised spectra (N, 1462) and log10 of each spectrum's std, the
        extra token SpecCLIP stores (Sec. 3.2/3.3 of our spec).
    """
    s = spec if spec.grid == "specclip" else spec.resample("specclip")
    x, _, sd = s.continuum_normalise().standardise()
    return x, np.log10(sd).astype(np.float32)


def xp_input(spec: Spectra) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SpecCLIP XP preprocessing: 550-nm-normalised flux, then per-spectrum standardisation.

    Returns ``(x, mu, sigma)`` (mu, sigma are SpecCLIP's two extra inputs).
    """
    s = spec if spec.norm == "550nm" else spec.normalise("550nm")
    return s.standardise()


def read_csv_catalogue(path, required, what: str = "catalogue"):
    """Read a CSV catalogue as an astropy ``Table``, checking that it exists, parses and has ``required``.

    Raises:
        FileNotFoundError: the file is missing. ValueError: it does not parse as CSV, or lacks a column;
            both messages name the file.
    """
    from pathlib import Path

    from astropy.table import Table

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        tab = Table.read(path, format="ascii.csv", fast_reader=False)
    except Exception as e:
        raise ValueError(f"{path}: cannot parse as CSV: {e}") from e
    missing = [c for c in required if c not in tab.colnames]
    if missing:
        raise ValueError(f"{path}: catalogue is missing column(s) {missing}")
    return tab
