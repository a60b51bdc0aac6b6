"""Simulated WISE W1-W4 cutouts of stars, galaxies and quasars, with full truth.

For the IICnet chapter (Zhao et al. 2023; spec §2.4, §2.6). Cutouts are 32x32 pixels of 2.75"
(the unWISE coadd scale, 88" across), bands W1 3.4, W2 4.6, W3 12, W4 22 µm, in **Vega
nanomaggies** (the unWISE convention, ``m_Vega = 22.5 - 2.5 log10 F``), sky-subtracted.

Modelling choices (all ours unless cited)
    * **Class mix and optical magnitudes from the real SDSS table.** Each cutout resamples one row
      of the SDSS DR14 10k table (:mod:`astrorepro.data.sdss`, cleaned to 12 < r < 21): its
      class, r, g-r, redshift and (ra, dec). With ``class_fractions="sdss"`` (default) the class
      fractions are the table's (GALAXY 0.50, QSO 0.085, STAR 0.415); "balanced" draws equal
      numbers per class (rows resampled within each class); an explicit tuple sets them. If the
      table is absent, a warning is issued and documented defaults are used: the same fractions
      and r ~ N(16.65, 0.85) (galaxies), N(18.50, 0.67) (QSO), N(16.73, 1.08) (stars) with g-r
      N(0.70, 0.24), N(0.18, 0.21), N(0.40, 0.29) (the table's moments).
    * **r -> W1 via class-dependent r - W1 colours** (r AB, W1 Vega):
      stars ``0.45 + 2.1 (g-r) + N(0, 0.15)`` (a line through A0 ~ 0, Sun ~ 1.4, M0 ~ 3.4 from
      V-K colours); galaxies ``2.9 + 1.0 (g-r - 0.7) + 3 (z - 0.08) + N(0, 0.3)`` (SDSS main
      galaxies have r ~ 17, W1 ~ 14, redder with redshift); quasars ``N(3.6, 0.5)``.
    * **Infrared colours** (Vega; the loci of Wright et al. 2010 and Stern et al. 2012; spec §2.6):
      stars W1-W2 ~ N(0, 0.05), W2-W3 ~ N(0.05, 0.2), W3-W4 ~ N(0, 0.3); quasars N(1.1, 0.25),
      N(3.0, 0.4), N(2.5, 0.5); galaxies W1-W2 ~ N(0.25, 0.15) with a 5 % AGN-like tail
      N(0.9, 0.25) so the classes overlap, W2-W3 ``= 4.3 - 3.3 (g-r) + N(0, 0.4)`` with values
      below 0.3 redrawn from U(0.3, 1) and above 4.5 from U(3.5, 4.5) (passive red galaxies ~1,
      star-forming blue ones ~3; spans the spec's 0.5-4),
      W3-W4 ~ N(2.3, 0.4).
    * **Morphology**: stars and quasars are point sources. Galaxies are Sérsic (n ~ U(1, 4),
      q ~ U(0.3, 1)) with ``R_e = 4.5" 10^{-0.2 (r - 16)} 10^{N(0, 0.15)}`` clipped to
      [0.8", 15"]: most SDSS galaxies are only marginally resolved at WISE resolution; the same
      shape in all four bands. ``extended`` = galaxy with R_e > 0.5 FWHM(W1) = 3.05".
    * **PSF**: circular Gaussians of FWHM 6.1, 6.4, 6.5, 12.0" (Wright et al. 2010); point
      sources are pixel-integrated exactly (erf), galaxies convolved by FFT on a padded grid.
    * **Depth**: 5 sigma point-source limits 0.08, 0.11, 1, 6 mJy (Wright et al. 2010), i.e.
      16.47, 15.48, 11.25, 7.86 Vega mag with zero points 309.54, 171.79, 31.67, 8.36 Jy
      (Jarrett et al. 2011), varied per cutout by N(0, 0.15) mag (coverage). Per-pixel sigma =
      ``F_5sigma / 5 / sqrt(4 pi sigma_psf^2)`` (the noise-equivalent area of a Gaussian PSF), so
      W1, W2 reach S/N >> 5 for most sources and W3, W4 are often noise dominated.
    * **Position**: the target at the cutout centre ((31/2, 31/2)) +- 0.5 pixel. **Neighbours**:
      Poisson, mean ``0.3 min(1/sin|b|, 5)`` per cutout (denser towards the Galactic plane; b from
      the SDSS row's ra, dec), uniform positions, W1 from 12-17.5 with counts rising as
      ``10^{0.3 m}``, 70 % star-like colours, 30 % galaxy-like, all point sources.
    * Gaussian pixel noise only (sky dominated; no source shot noise, no confusion noise).

Truth (``WiseImages.truth``): class, class_name, W1..W4 (Vega mags of the target), w1_w2,
w2_w3, w3_w4, r, g_r, redshift (from SDSS), extended, re_arcsec, sersic_n, q, pa_deg, x0, y0,
n_neighbours, glat, snr_W1..snr_W4 (matched-filter S/N of the target alone), sigma_W1..W4.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

import scipy.fft

from .images import LabelledImages
from .sersic import FWHM_TO_SIGMA, gaussian_otf, point_sources, render_profiles, sersic_fn, sersic_norm

__all__ = ["WISE_BANDS", "WISE_CLASSES", "WISE_PIXEL_SCALE", "WISE_FWHM", "WISE_DEPTH_MJY",
           "WISE_ZP_JY", "WISE_DEPTH_MAG", "DEFAULT_FRACTIONS", "WiseSimConfig", "WiseImages",
           "simulate_wise", "wise_noise_sigma", "aperture_photometry"]

WISE_BANDS: tuple[str, ...] = ("W1", "W2", "W3", "W4")
WISE_CLASSES: tuple[str, ...] = ("galaxy", "quasar", "star")  # SDSS GALAXY, QSO, STAR
_SDSS_TO_IDX = {"GALAXY": 0, "QSO": 1, "STAR": 2}
WISE_PIXEL_SCALE = 2.75
WISE_FWHM = np.array([6.1, 6.4, 6.5, 12.0])  # arcsec
WISE_DEPTH_MJY = np.array([0.08, 0.11, 1.0, 6.0])  # 5 sigma point source
WISE_ZP_JY = np.array([309.54, 171.787, 31.674, 8.363])  # Vega zero points
WISE_DEPTH_MAG = -2.5 * np.log10(WISE_DEPTH_MJY * 1e-3 / WISE_ZP_JY)
#: fallback class fractions (galaxy, quasar, star) = those of the SDSS DR14 10k table
DEFAULT_FRACTIONS = (0.4998, 0.0850, 0.4152)
_DEFAULT_OPTICAL = {0: (16.65, 0.85, 0.70, 0.24, 0.08), 1: (18.50, 0.67, 0.18, 0.21, 1.2),
                    2: (16.73, 1.08, 0.40, 0.29, 0.0)}  # r mean, sd, g-r mean, sd, redshift


@dataclass(frozen=True)
class WiseSimConfig:
    """Settings of the WISE simulator."""

    size: int = 32
    pixel_scale: float = WISE_PIXEL_SCALE
    depth_scatter: float = 0.15  # mag, per cutout and band
    depth_offset: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # mag, + = deeper
    neighbour_rate: float = 0.3
    centre_jitter: float = 0.5
    agn_tail: float = 0.05  # fraction of galaxies with AGN-like W1-W2
    pad: int = 8
    chunk: int = 2048


@dataclass
class WiseImages(LabelledImages):
    """WISE cutouts (see :class:`~astrorepro.data.images.LabelledImages`): float32 (n, 4, H, W) in
    Vega nanomaggies (bands W1..W4), labels indexing ``class_names`` (galaxy, quasar, star)."""

    bands: tuple[str, ...] = WISE_BANDS
    units: str = "vega_nanomaggies"
    pixel_scale: float | None = WISE_PIXEL_SCALE


def wise_noise_sigma(depth_mag: np.ndarray, pixel_scale: float = WISE_PIXEL_SCALE) -> np.ndarray:
    """Per-pixel noise (Vega nanomaggies) giving 5 sigma point-source depths ``depth_mag`` (..., 4)."""
    f5 = 10 ** (-0.4 * (np.asarray(depth_mag) - 22.5))
    s_psf = WISE_FWHM / pixel_scale * FWHM_TO_SIGMA
    return f5 / 5.0 / np.sqrt(4 * np.pi * s_psf**2)


def _draw_optical(n: int, rng: np.random.Generator, class_fractions, table: pd.DataFrame | None):
    """Class, r, g-r, redshift, ra, dec for n objects (from the SDSS table when given)."""
    if isinstance(class_fractions, str):
        if class_fractions == "balanced":
            fr = np.ones(3) / 3
        elif class_fractions == "sdss":
            if table is not None:
                fr = np.array([(table["class"] == c).mean() for c in ("GALAXY", "QSO", "STAR")])
            else:
                fr = np.array(DEFAULT_FRACTIONS)
        else:
            raise ValueError(f"class_fractions must be 'sdss', 'balanced' or 3 numbers, got {class_fractions!r}")
    else:
        fr = np.asarray(class_fractions, float)
        if fr.shape != (3,) or np.any(fr < 0) or fr.sum() <= 0:
            raise ValueError(f"class_fractions must be 3 non-negative numbers, got {class_fractions!r}")
    fr = fr / fr.sum()
    if class_fractions == "balanced":
        cls = np.repeat(np.arange(3), [n // 3 + (i < n % 3) for i in range(3)])
        rng.shuffle(cls)
    else:
        cls = rng.choice(3, n, p=fr)
    out = {k: np.zeros(n) for k in ("r", "g_r", "redshift", "ra", "dec")}
    for c in range(3):
        i = np.flatnonzero(cls == c)
        if len(i) == 0:
            continue
        if table is not None:
            rows = table[table["class"] == ("GALAXY", "QSO", "STAR")[c]]
            if len(rows) == 0:
                raise ValueError(f"SDSS table has no rows of class {('GALAXY', 'QSO', 'STAR')[c]}")
            pick = rows.iloc[rng.integers(0, len(rows), len(i))]
            out["r"][i] = pick["r"].to_numpy() + 0.02 * rng.standard_normal(len(i))
            out["g_r"][i] = (pick["g"] - pick["r"]).to_numpy()
            out["redshift"][i] = pick["redshift"].to_numpy()
            out["ra"][i], out["dec"][i] = pick["ra"].to_numpy(), pick["dec"].to_numpy()
        else:
            rm, rs, gm, gs, z = _DEFAULT_OPTICAL[c]
            out["r"][i] = rm + rs * rng.standard_normal(len(i))
            out["g_r"][i] = gm + gs * rng.standard_normal(len(i))
            out["redshift"][i] = z
            out["ra"][i] = rng.uniform(120, 240, len(i))  # a high-latitude default sky
            out["dec"][i] = rng.uniform(0, 60, len(i))
    return cls, out


def _galactic_latitude(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    return SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").galactic.b.deg


def simulate_wise(n: int, seed: int | np.random.Generator = 0, class_fractions="sdss",
                  sdss: pd.DataFrame | str | None = "auto", config: WiseSimConfig | None = None,
                  progress: bool = False, **overrides) -> WiseImages:
    """Simulate n WISE W1-W4 cutouts (see the module docstring for every choice).

    Args:
        n: number of cutouts.
        seed: int or numpy Generator.
        class_fractions: "sdss" (the real table's), "balanced", or (galaxy, quasar, star).
        sdss: the SDSS table (DataFrame), "auto" (load it from ``paths.data_dir()``; warn and
            fall back to defaults if absent) or None (use the defaults without a warning).
        config: :class:`WiseSimConfig`; ``**overrides`` replace its fields.
        progress: tqdm bar over chunks.

    Returns:
        :class:`WiseImages` (n, 4, 32, 32) with truth.
    """
    cfg = replace(config or WiseSimConfig(), **overrides)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    table = None
    if isinstance(sdss, pd.DataFrame):
        table = sdss
    elif sdss == "auto":
        from .sdss import clean_sdss, load_sdss_classes

        try:
            table = clean_sdss(load_sdss_classes())
        except FileNotFoundError as e:
            warnings.warn(f"{e}; using the documented default class fractions and magnitudes",
                          stacklevel=2)
    elif sdss is not None:
        raise ValueError(f"sdss must be a DataFrame, 'auto' or None, got {sdss!r}")
    cls, opt = _draw_optical(n, rng, class_fractions, table)
    gal, qso, star = cls == 0, cls == 1, cls == 2
    ng, nq, ns = gal.sum(), qso.sum(), star.sum()
    r, gr, z = opt["r"], opt["g_r"], opt["redshift"]
    r_w1 = np.empty(n)
    r_w1[star] = 0.45 + 2.1 * gr[star] + 0.15 * rng.standard_normal(ns)
    r_w1[gal] = 2.9 + 1.0 * (gr[gal] - 0.7) + 3.0 * (z[gal] - 0.08) + 0.3 * rng.standard_normal(ng)
    r_w1[qso] = 3.6 + 0.5 * rng.standard_normal(nq)
    w1 = r - r_w1
    c12, c23, c34 = np.empty(n), np.empty(n), np.empty(n)
    c12[star] = 0.05 * rng.standard_normal(ns)
    c23[star] = 0.05 + 0.2 * rng.standard_normal(ns)
    c34[star] = 0.3 * rng.standard_normal(ns)
    c12[qso] = 1.1 + 0.25 * rng.standard_normal(nq)
    c23[qso] = 3.0 + 0.4 * rng.standard_normal(nq)
    c34[qso] = 2.5 + 0.5 * rng.standard_normal(nq)
    agn = rng.uniform(size=ng) < cfg.agn_tail
    c12[gal] = np.where(agn, 0.9 + 0.25 * rng.standard_normal(ng), 0.25 + 0.15 * rng.standard_normal(ng))
    x23 = 4.3 - 3.3 * gr[gal] + 0.4 * rng.standard_normal(ng)
    # redraw the tails instead of clipping them (no pile-up at the limits)
    x23 = np.where(x23 < 0.3, rng.uniform(0.3, 1.0, ng), x23)
    c23[gal] = np.where(x23 > 4.5, rng.uniform(3.5, 4.5, ng), x23)
    c34[gal] = 2.3 + 0.4 * rng.standard_normal(ng)
    mags = np.stack([w1, w1 - c12, w1 - c12 - c23, w1 - c12 - c23 - c34], 1)  # (n, 4)
    flux = 10 ** (-0.4 * (mags - 22.5))
    # galaxy shapes
    re = np.zeros(n)
    re[gal] = np.clip(4.5 * 10 ** (-0.2 * (r[gal] - 16) + 0.15 * rng.standard_normal(ng)), 0.8, 15.0)
    sn = np.where(gal, rng.uniform(1, 4, n), 0.0)
    q = np.where(gal, rng.uniform(0.3, 1.0, n), 1.0)
    pa = rng.uniform(0, np.pi, n)
    S = cfg.size
    c = (S - 1) / 2
    x0 = c + rng.uniform(-cfg.centre_jitter, cfg.centre_jitter, n)
    y0 = c + rng.uniform(-cfg.centre_jitter, cfg.centre_jitter, n)
    # observing conditions
    depth = WISE_DEPTH_MAG[None, :] + np.asarray(cfg.depth_offset)[None, :] \
        + cfg.depth_scatter * rng.standard_normal((n, 4))
    sig = wise_noise_sigma(depth, cfg.pixel_scale).astype(np.float32)
    glat = _galactic_latitude(opt["ra"], opt["dec"])
    lam = cfg.neighbour_rate * np.minimum(1.0 / np.maximum(np.sin(np.radians(np.abs(glat))), 1e-3), 5.0)
    nnb = rng.poisson(lam)
    fwhm_px = WISE_FWHM / cfg.pixel_scale
    images = np.empty((n, 4, S, S), np.float32)
    snr = np.empty((n, 4))
    from tqdm.auto import tqdm

    for s0 in tqdm(range(0, n, cfg.chunk), disable=not progress, desc="WISE"):
        st = np.arange(s0, min(n, s0 + cfg.chunk))
        tgt = np.zeros((len(st), 4, S, S), np.float32)
        ps = st[~gal[st]]
        if len(ps):
            tgt[~gal[st]] = point_sources((S, S), x0[ps], y0[ps], flux[ps], fwhm_px)
        gs = st[gal[st]]
        if len(gs):
            P = cfg.pad
            Hp = S + 2 * P
            rep = re[gs] / cfg.pixel_scale
            ie = sersic_norm(np.ones(len(gs)), sn[gs], rep, q[gs])
            prof = render_profiles((Hp, Hp), x0[gs] + P, y0[gs] + P, q[gs], pa[gs],
                                   sersic_fn(ie, sn[gs], rep), oversample=5, core=2)
            # one FFT of the (band-independent) shape, then four Gaussian transfer functions
            ft = scipy.fft.rfft2(prof, axes=(-2, -1))[:, None] * gaussian_otf((Hp, Hp), fwhm_px)[None]
            ft *= flux[gs].astype(np.float32)[:, :, None, None]
            cube = scipy.fft.irfft2(ft, s=(Hp, Hp), axes=(-2, -1))
            tgt[gal[st]] = cube[:, :, P:P + S, P:P + S]
        snr[st] = np.sqrt(np.einsum("bchw,bchw->bc", tgt, tgt)) / sig[st]
        img = tgt
        # neighbours (point sources)
        k = nnb[st]
        if k.sum():
            owner = np.repeat(np.arange(len(st)), k)
            m = len(owner)
            a = 0.3 * np.log(10)
            u = rng.uniform(size=m)
            lo, hi = 12.0, 17.5
            w1n = np.log(np.exp(a * lo) + u * (np.exp(a * hi) - np.exp(a * lo))) / a
            starlike = rng.uniform(size=m) < 0.7
            d12 = np.where(starlike, 0.05 * rng.standard_normal(m), 0.25 + 0.15 * rng.standard_normal(m))
            d23 = np.where(starlike, 0.05 + 0.2 * rng.standard_normal(m), rng.uniform(0.5, 4.0, m))
            d34 = np.where(starlike, 0.3 * rng.standard_normal(m), 2.3 + 0.4 * rng.standard_normal(m))
            nm = np.stack([w1n, w1n - d12, w1n - d12 - d23, w1n - d12 - d23 - d34], 1)
            nb = point_sources((S, S), rng.uniform(-0.5, S - 0.5, m), rng.uniform(-0.5, S - 0.5, m),
                               10 ** (-0.4 * (nm - 22.5)), fwhm_px)
            np.add.at(img, owner, nb)
        img += rng.standard_normal(img.shape, dtype=np.float32) * sig[st][:, :, None, None]
        images[st] = img
    truth = pd.DataFrame({
        "class": cls, "class_name": np.array(WISE_CLASSES, dtype=object)[cls],
        "W1": mags[:, 0], "W2": mags[:, 1], "W3": mags[:, 2], "W4": mags[:, 3],
        "w1_w2": c12, "w2_w3": c23, "w3_w4": c34, "r": r, "g_r": gr, "redshift": z,
        "extended": gal & (re > 0.5 * WISE_FWHM[0]), "re_arcsec": re, "sersic_n": sn, "q": q,
        "pa_deg": np.degrees(pa), "x0": x0, "y0": y0, "n_neighbours": nnb, "glat": glat,
    })
    for b, name in enumerate(WISE_BANDS):
        truth[f"snr_{name}"] = snr[:, b]
    for b, name in enumerate(WISE_BANDS):
        truth[f"sigma_{name}"] = sig[:, b]
    return WiseImages(images=images, labels=cls, class_names=WISE_CLASSES, truth=truth)


def aperture_photometry(images: np.ndarray, radius_px: float = 2.0, centre: tuple[float, float] | None = None,
                        sigma: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Circular-aperture fluxes and Vega magnitudes of (n, C, H, W) cutouts.

    A simple catalogue-like measurement (the centre pixel grid, no aperture correction), used for
    colour-colour diagrams from the images and for Kurcz-style baselines (W1, W1-W2, and the
    difference of two aperture magnitudes as an extent measure).

    Args:
        images: cutouts in Vega nanomaggies.
        radius_px: aperture radius in pixels (pixels whose centres lie inside count fully).
        centre: (x, y); default the cutout centre.
        sigma: optional (n, C) per-pixel noise, to return the aperture S/N.

    Returns:
        dict with ``flux`` (n, C), ``mag`` (n, C; NaN where the flux is not positive) and, with
        ``sigma``, ``snr`` (n, C).
    """
    x = np.asarray(images, np.float64)
    n, C, H, W = x.shape
    cx, cy = ((W - 1) / 2, (H - 1) / 2) if centre is None else centre
    yy, xx = np.mgrid[0:H, 0:W]
    ap = ((xx - cx) ** 2 + (yy - cy) ** 2) <= radius_px**2
    flux = (x * ap).sum((2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(flux > 0, 22.5 - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
    out = {"flux": flux, "mag": mag}
    if sigma is not None:
        out["snr"] = flux / (np.asarray(sigma) * np.sqrt(ap.sum()))
    return out
