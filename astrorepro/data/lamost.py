"""Loader of real LAMOST LRS spectra (DR1-style FITS) returning :class:`~astrorepro.data.spectra.Spectra`.

File layout (LAMOST DR1 LRS; see ``shared/data/lamost_lrs_dr1_learninglamost/SOURCE.md``): the primary
HDU is a float32 image of shape (5, n_pix): row 0 flux (relative), 1 inverse variance, 2 the pipeline's
continuum-normalised flux, 3 andmask, 4 ormask. Vacuum wavelengths ``10**(COEFF0 + COEFF1 * i)``
(``CRVAL1``/``CD1_1`` with ``DC-FLAG = 1`` accepted as a fallback).

A pixel is bad (``mask`` True, ivar 0) when flux or ivar is not finite, ivar <= 0, or andmask != 0
(the pixel is bad in every exposure). Spectra are resampled onto a simulator grid (default the
3904-pixel native grid, which the 3908/3909-pixel files share pixel for pixel), so real and simulated
spectra are interchangeable. Nothing is ever written next to the data.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrorepro.data.grids import C_KMS, Grid, loglinear_wave
from astrorepro.data.spectra import Spectra, read_csv_catalogue
from astrorepro.paths import data_dir

SAMPLE_DIR = "lamost_lrs_dr1_learninglamost"
#: header keys copied into ``meta`` (lower-cased); 99 (LAMOST's "undefined") S/N becomes NaN
HEADER_KEYS = ("DESIG", "RA", "DEC", "CLASS", "SUBCLASS", "Z", "Z_ERR", "SN_U", "SN_G", "SN_R", "SN_I", "SN_Z",
               "HELIO_RV", "FIBERID", "PLANID", "OBJTYPE", "MJD")
#: columns a sample index (spectra_index.csv) must have
INDEX_COLUMNS = ("filename", "teff", "logg", "feh", "rv", "snrg", "subclass", "has_lasp_labels")


def sample_dir() -> Path:
    """The real LAMOST sample folder under :func:`astrorepro.paths.data_dir`."""
    return data_dir() / SAMPLE_DIR


def _wavelength(header, path) -> np.ndarray:
    n_pix = header.get("NAXIS1")
    if "COEFF0" in header and "COEFF1" in header:
        c0, c1 = header["COEFF0"], header["COEFF1"]
    elif "CRVAL1" in header and "CD1_1" in header and header.get("DC-FLAG", 0) == 1:
        c0, c1 = header["CRVAL1"], header["CD1_1"]
    else:
        raise ValueError(f"{path}: no wavelength keywords (need COEFF0/COEFF1, or CRVAL1/CD1_1 with DC-FLAG=1)")
    try:
        c0, c1 = float(c0), float(c1)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: wavelength keywords COEFF0/COEFF1 are not numbers") from e
    if not (3.0 < c0 < 4.5 and 0 < c1 < 1e-2):
        raise ValueError(f"{path}: implausible log-linear wavelength solution COEFF0={c0}, COEFF1={c1}")
    return loglinear_wave(c0, c1, int(n_pix))


def read_lamost_fits(path: str | Path, grid: str | Grid | np.ndarray | None = "lamost") -> Spectra:
    """Read one LAMOST LRS FITS file.

    Args:
        path: the ``spec-*.fits`` file.
        grid: resample onto this grid (a name from :mod:`astrorepro.data.grids`, a Grid, an array), or
            None to keep the file's own pixels.

    Returns:
        A one-spectrum :class:`Spectra` with ``meta`` from the header (lower-case keys; ``rv_z`` =
        c * Z in km/s) and the id = file name.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a readable FITS file (e.g. truncated), wrong image shape, no wavelength
            keywords, or every pixel bad/NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"LAMOST FITS file not found: {path}")
    try:
        with warnings.catch_warnings(record=True) as caught, fits.open(path, memmap=False) as hdul:
            warnings.simplefilter("always")
            header = hdul[0].header
            data = hdul[0].data
            data = None if data is None else np.array(data, dtype=np.float32)
        if any("truncated" in str(w.message) for w in caught):
            raise ValueError("file is truncated")
    except Exception as e:  # astropy raises OSError / TypeError / ValueError on corrupt or short files
        raise ValueError(f"{path}: not a readable FITS file (truncated or corrupt?): {e}") from e
    if data is None or data.ndim != 2 or data.shape[0] < 2 or data.shape[1] < 10:
        shape = None if data is None else data.shape
        raise ValueError(f"{path}: expected a (5, n_pix) LAMOST LRS image (flux, ivar, normalised flux, andmask, "
                         f"ormask), got shape {shape}")
    if header.get("NAXIS1") != data.shape[1]:
        raise ValueError(f"{path}: header NAXIS1={header.get('NAXIS1')} does not match the data width {data.shape[1]}")
    wave = _wavelength(header, path)
    flux, ivar = data[0], data[1]
    andmask = data[3] if data.shape[0] > 3 else np.zeros_like(flux)
    bad = ~np.isfinite(flux) | ~np.isfinite(ivar) | (ivar <= 0) | (andmask != 0)
    if bad.all():
        raise ValueError(f"{path}: every pixel is NaN, has ivar <= 0 or is masked; no usable spectrum")
    meta = {}
    for key in HEADER_KEYS:
        val = header.get(key)
        if isinstance(val, str):
            val = val.strip()
        if key.startswith("SN_") and val is not None and float(val) == 99.0:
            val = np.nan
        meta[key.lower()] = np.array([np.nan if val is None else val])
    meta["rv_z"] = np.array([C_KMS * float(header["Z"]) if "Z" in header else np.nan])
    meta["n_pix_file"] = np.array([data.shape[1]])
    spec = Spectra(wave, flux[None], ivar[None], bad[None], np.array([path.name]), meta, grid=None, source=str(path))
    if grid is None:
        return spec
    out = spec.resample(grid)
    if out.mask.all():
        raise ValueError(f"{path}: no good pixel left on the requested grid")
    return out


def read_lamost_index(path: str | Path | None = None) -> Table:
    """Read a sample's ``spectra_index.csv`` (LASP labels per file) as an astropy Table.

    Raises:
        FileNotFoundError: missing file. ValueError: unreadable, or missing any of :data:`INDEX_COLUMNS`.
    """
    path = Path(path) if path is not None else sample_dir() / "spectra_index.csv"
    return read_csv_catalogue(path, INDEX_COLUMNS, "LAMOST sample index")


def _as_float(col) -> np.ndarray:
    col = np.ma.asarray(col)
    out = np.ma.filled(col.astype(float), np.nan) if col.dtype.kind in "fiu" else np.array(
        [float(v) if str(v).strip() not in ("", "--", "nan") else np.nan for v in np.ma.filled(col.astype(str), "")])
    return np.where(out <= -9990, np.nan, out)


def read_lamost_sample(folder: str | Path | None = None, labelled_only: bool = False,
                       grid: str | Grid | np.ndarray = "lamost") -> Spectra:
    """Read every spectrum listed in a sample folder's ``spectra_index.csv``.

    Args:
        folder: folder with ``spectra_index.csv`` and ``spectra/``; default the shared sample.
        labelled_only: keep only rows with LASP labels (``has_lasp_labels``).
        grid: the common grid all spectra are resampled onto.

    Returns:
        :class:`Spectra` with ``meta`` = LASP labels ``teff, logg, feh, rv`` (+ ``*_err``, NaN where
        unlabelled), ``snrg``, ``subclass``, ``has_lasp_labels``, and header values ``sn_g``, ``ra``, ``dec``...
    """
    folder = Path(folder) if folder is not None else sample_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"LAMOST sample folder not found: {folder} (set ASTROREPRO_DATA_DIR)")
    tab = read_lamost_index(folder / "spectra_index.csv")
    has = np.array([str(v).strip().lower() == "true" for v in tab["has_lasp_labels"]])
    rows = np.flatnonzero(has) if labelled_only else np.arange(len(tab))
    if rows.size == 0:
        raise ValueError(f"{folder}: no spectra selected (labelled_only={labelled_only})")
    specs = [read_lamost_fits(folder / "spectra" / str(tab["filename"][i]), grid=grid) for i in rows]
    out = Spectra.concat(specs)
    meta = dict(out.meta)
    for c in ("teff", "teff_err", "logg", "logg_err", "feh", "feh_err", "rv", "rv_err", "snrg", "snrr"):
        if c in tab.colnames:
            meta[c] = _as_float(tab[c])[rows].astype(np.float32)
    meta["subclass"] = np.array([str(v) for v in np.ma.filled(tab["subclass"].astype(str), "")])[rows]
    meta["has_lasp_labels"] = has[rows]
    return replace(out, meta=meta, source=str(folder))
