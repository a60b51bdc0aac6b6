"""The real SDSS DR14 spectroscopic class table (STAR / GALAXY / QSO with ugriz and redshift).

``<data_dir>/sdss_dr14_star_galaxy_qso_10k/sdss_dr14_10k.csv`` (see its SOURCE.md): 10,000
objects (GALAXY 4,998 / STAR 4,152 / QSO 850), no WISE columns. The WISE simulator
(:mod:`astrorepro.data.wise`) draws its class mix and optical magnitudes from it; the IICnet
chapter can use it as a real-label tabular baseline. ``objid`` and ``specobjid`` are lossy
(float format) in this copy: do not use them as keys; ``(plate, mjd, fiberid)`` is unique.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["SDSS_DIR", "SDSS_FILE", "SDSS_CLASSES", "SDSS_REQUIRED", "sdss_table_path",
           "load_sdss_classes", "clean_sdss"]

SDSS_DIR = "sdss_dr14_star_galaxy_qso_10k"
SDSS_FILE = "sdss_dr14_10k.csv"
SDSS_CLASSES: tuple[str, ...] = ("GALAXY", "QSO", "STAR")
SDSS_REQUIRED: tuple[str, ...] = ("ra", "dec", "u", "g", "r", "i", "z", "class", "redshift")


def sdss_table_path(data_dir: str | Path | None = None) -> Path:
    """Path of the CSV (``data_dir`` is the folder holding it; default under paths.data_dir())."""
    if data_dir is None:
        from astrorepro.paths import data_dir as default_dir

        return default_dir() / SDSS_DIR / SDSS_FILE
    return Path(data_dir) / SDSS_FILE


def load_sdss_classes(data_dir: str | Path | None = None, as_table: bool = False):
    """Read and check the SDSS class table.

    Args:
        data_dir: folder holding ``sdss_dr14_10k.csv`` (default
            ``paths.data_dir()/sdss_dr14_star_galaxy_qso_10k``).
        as_table: return an ``astropy.table.Table`` instead of a pandas DataFrame.

    Returns:
        The table with the columns of SOURCE.md; ``class`` holds STAR, GALAXY or QSO.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable CSV, missing required columns, unknown classes or non-numeric
            photometry.
    """
    path = sdss_table_path(data_dir)
    if not path.is_file():
        raise FileNotFoundError(f"SDSS class table not found: {path}")
    try:
        t = pd.read_csv(path)
    except Exception as e:
        raise ValueError(f"{path}: cannot parse as CSV ({e})") from e
    missing = [c for c in SDSS_REQUIRED if c not in t.columns]
    if missing:
        raise ValueError(f"{path}: missing required columns {missing} (has {list(t.columns)})")
    if len(t) == 0:
        raise ValueError(f"{path}: the table is empty")
    bad = sorted(set(t["class"].astype(str)) - set(SDSS_CLASSES))
    if bad:
        raise ValueError(f"{path}: unknown classes {bad} in column 'class' (expected {SDSS_CLASSES})")
    for c in ("ra", "dec", "u", "g", "r", "i", "z", "redshift"):
        if not np.issubdtype(t[c].dtype, np.number):
            raise ValueError(f"{path}: column {c!r} is not numeric")
    if as_table:
        from astropy.table import Table

        return Table.from_pandas(t)
    return t


def clean_sdss(t: pd.DataFrame, r_range: tuple[float, float] = (12.0, 21.0),
               gr_range: tuple[float, float] = (-1.0, 2.5)) -> pd.DataFrame:
    """Rows with sane optical photometry (drops the few r ~ 24.8 and extreme-colour entries)."""
    gr = t["g"] - t["r"]
    ok = t["r"].between(*r_range) & gr.between(*gr_range)
    return t[ok].reset_index(drop=True)
