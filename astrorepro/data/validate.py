"""Checks of the stellar simulator against real spectra at matched labels (book page ``data_spectra``).

* :func:`lamost_match`: for every labelled real LAMOST spectrum, a noiseless simulated spectrum with the
  same LASP Teff, log g, [Fe/H] and RV; both continuum-normalised the same way on a common window;
  per-star residual RMS compared with the real spectrum's own line structure (RMS about 1) and with
  its noise.
* :func:`xp_match`: for Gaia XP + APOGEE stars, the simulated XP spectrum at the APOGEE labels (and the
  targeting extinction A_K converted to E(BP-RP)), both median-normalised; per-star RMS difference,
  the systematic residual per wavelength, and a "mean real spectrum" baseline.
"""

from __future__ import annotations

import warnings

import numpy as np

from astrorepro.data.spectra import Spectra
from astrorepro.data.stars import complete_labels, simulate_spectra

#: A_K / A_V of CCM89 at 2.2 um (R_V = 3.1) and E(BP-RP) / E(B-V) used by the simulator
AK_PER_AV = 0.114
EBPRP_PER_EBV = 1.339


def ak_to_ebprp(ak: np.ndarray) -> np.ndarray:
    """E(BP-RP) from a K-band extinction (CCM89, R_V = 3.1); NaN or negative A_K -> 0."""
    ak = np.nan_to_num(np.asarray(ak, np.float64), nan=0.0)
    return np.clip(ak, 0, None) / AK_PER_AV / 3.1 * EBPRP_PER_EBV


def lamost_match(real: Spectra, grid: str = "specclip", seed: int = 0) -> dict:
    """Compare labelled real LAMOST spectra with simulated ones at the same (Teff, log g, [Fe/H], RV).

    Args:
        real: real spectra with meta ``teff, logg, feh, rv`` (e.g. ``read_lamost_sample(labelled_only=True)``).
        grid: common window (``specclip`` 3999-5599 A or ``wide`` 3800-8700 A).

    Returns:
        dict with ``wave``, continuum-normalised ``real`` and ``sim`` flux (N, n_pix), ``good`` mask,
        per-star ``rms_resid`` (real - sim), ``rms_lines`` (real - 1: the line structure to explain),
        ``rms_noise`` (expected from ivar), ``explained`` = 1 - rms_resid^2 / rms_lines^2,
        ``explained_signal`` = 1 - (rms_resid^2 - rms_noise^2) / (rms_lines^2 - rms_noise^2) with
        ``has_signal`` (line signal variance > noise variance), and per-pixel medians over stars
        ``median_resid``, ``median_abs_resid``.
    """
    keep = np.all([np.isfinite(real.meta[k]) for k in ("teff", "logg", "feh")], axis=0)
    if not keep.any():
        raise ValueError("lamost_match: no spectrum with finite teff, logg, feh")
    r = real[np.flatnonzero(keep)]
    r = r if r.grid == grid else r.resample(grid)
    rv = np.nan_to_num(np.asarray(r.meta["rv"], np.float64)) if "rv" in r.meta else np.zeros(len(r))
    lab = complete_labels({"teff": r.meta["teff"], "logg": r.meta["logg"], "feh": r.meta["feh"], "rv": rv,
                           "snr": np.full(len(r), 1e6)})
    sim = simulate_spectra(lab, seed=seed, views=(grid,), telluric=True, flux_calib_error=0.0,
                           dead_fraction=0.0)[grid]
    rn, sn = r.continuum_normalise(), sim.continuum_normalise()
    good = ~rn.mask
    n_good = np.maximum(good.sum(1), 1)
    rms = lambda x: np.sqrt(np.sum(np.where(good, x, 0) ** 2, axis=1) / n_good)  # noqa: E731
    resid = rn.flux - sn.flux
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels masked in every star give NaN medians
        med_abs = np.nanmedian(np.where(good, np.abs(resid), np.nan), axis=0)
        med = np.nanmedian(np.where(good, resid, np.nan), axis=0)
    out = {"wave": rn.wave, "real": rn.flux, "sim": sn.flux, "good": good, "labels": lab,
           "rms_resid": rms(resid), "rms_lines": rms(rn.flux - 1.0),
           "rms_noise": np.sqrt(np.sum(np.where(good, 1.0 / np.maximum(rn.ivar, 1e-30), 0), 1) / n_good),
           "median_abs_resid": med_abs, "median_resid": med, "ids": rn.ids}
    out["explained"] = 1.0 - out["rms_resid"] ** 2 / np.maximum(out["rms_lines"] ** 2, 1e-12)
    # noise-corrected: the share of the real spectrum's line *signal* variance the model reproduces,
    # meaningful where that signal clearly exceeds the noise (``has_signal``)
    sig2 = out["rms_lines"] ** 2 - out["rms_noise"] ** 2
    out["explained_signal"] = 1.0 - (out["rms_resid"] ** 2 - out["rms_noise"] ** 2) / np.maximum(sig2, 1e-12)
    out["has_signal"] = out["rms_lines"] ** 2 > 2 * out["rms_noise"] ** 2
    return out


def xp_match(real: Spectra, n: int | None = 1000, seed: int = 0) -> dict:
    """Compare real Gaia XP spectra with simulated ones at the APOGEE labels.

    Args:
        real: median-normalised XP spectra with meta ``teff, logg, feh, alpha_m`` and ``ak_targ``.
        n: use the first ``n`` stars (None: all).

    Returns:
        dict with ``real``, ``sim`` (N, 343), per-star ``rms_resid``, the baseline ``rms_mean``
        (real vs the mean real spectrum), ``median_resid`` per wavelength, ``teff``.
    """
    r = real if n is None else real[np.arange(min(n, len(real)))]
    if r.norm != "median":
        r = r.normalise("median")
    alpha = np.nan_to_num(np.asarray(r.meta.get("alpha_m", np.zeros(len(r))), np.float64))
    lab = complete_labels({"teff": r.meta["teff"], "logg": r.meta["logg"], "feh": r.meta["feh"],
                           "alpha_fe": alpha, "ebprp": ak_to_ebprp(r.meta.get("ak_targ", np.zeros(len(r)))),
                           "snr_xp": np.full(len(r), 1e6)})
    sim = simulate_spectra(lab, seed=seed, views=("xp",), xp_norm="median")["xp"]
    good = ~r.mask
    resid = np.where(good, sim.flux - r.flux, np.nan)
    base = np.where(good, np.nanmean(np.where(good, r.flux, np.nan), axis=0)[None, :] - r.flux, np.nan)
    return {"wave": r.wave, "real": r.flux, "sim": sim.flux, "teff": np.asarray(r.meta["teff"], np.float64),
            "logg": np.asarray(r.meta["logg"], np.float64), "ebprp": lab["ebprp"],
            "rms_resid": np.sqrt(np.nanmean(resid ** 2, axis=1)), "rms_mean": np.sqrt(np.nanmean(base ** 2, axis=1)),
            "median_resid": np.nanmedian(resid, axis=0)}
