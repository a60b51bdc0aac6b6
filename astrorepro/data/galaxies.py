"""Simulated DESI Legacy Surveys (DECaLS) g, r, z galaxy stamps with full truth.

Used by the Galaxy-LVM chapter (Fu et al. 2024; spec §1.7) for pre-training, few-shot
morphology, restoration and parameter extraction. Stamps are sky-subtracted fluxes in
**nanomaggies** (``m_AB = 22.5 - 2.5 log10 F``) on 0.262"/pixel, the native Legacy Surveys scale.
:meth:`GalaxyImages.to_rgb` maps them with the asinh ``dr2_rgb`` colour mapping
(:func:`astrorepro.data.decals.dr2_rgb`) into the same space as the real JPEG composites.

Classes
    The ten Galaxy10-DECaLS classes (Leung & Bovy 2019, Walmsley et al. 2022 labels):
    0 disturbed, 1 merging, 2 round smooth, 3 in-between round smooth, 4 cigar-shaped smooth,
    5 barred spiral, 6 unbarred tight spiral, 7 unbarred loose spiral, 8 edge-on without bulge,
    9 edge-on with bulge. The four classes of the LVM paper (spec §1.5: elliptical, edge-on,
    spiral, other incl. irregular and merging) are a *mapping* of these
    (:data:`GALAXY10_TO_LVM4`): smooth {2, 3, 4} -> elliptical (cigar-shaped smooth objects are
    smooth, not discs, in GZ); {8, 9} -> edge-on; {5, 6, 7} -> spiral; {0, 1} -> other.

Physical model (all choices are ours, [I] in the spec's terms)
    * Components are Sérsic profiles (:mod:`astrorepro.data.sersic`): smooth galaxies one Sérsic
      (n 3-5.5 round, 2.5-4.5 in-between, 1.5-3 cigar; q 0.75-1, 0.45-0.75, 0.2-0.45); discs an
      exponential-like disc (n 0.8-1.2) plus a bulge (B/T 0.05-0.35, n 1.5-3.5, R_e 0.15-0.3 of
      the disc's); barred spirals add a bar (n = 0.5, q 0.2-0.35, 8-20 % of the light).
    * Spiral arms are a flux-preserving modulation of the disc in its deprojected frame,
      ``1 + A (1 - exp(-(r/r_in)^2)) (a(psi)/<a> - 1)`` with the narrow arm shape
      ``a = ((1 + cos psi)/2)^4``, ``psi = m (theta - ln(r/R_e)/tan(p) - phi0)`` and its
      azimuthal mean ``<a> = 70/256``; m arms (barred 2; tight 2-4 with pitch 8-16 deg; loose
      2-3 with pitch 20-35 deg), A 0.6-0.95 (inter-arm light down to 1-A of the smooth disc).
      The modulation averages to one on every ellipse, so the disc keeps its flux (to pixel
      sampling: arms narrower than a pixel, in discs with R_e of a few pixels, change the pixel
      sum by up to ~5 %; at the default sizes the error is about 1 %).
    * Edge-on discs: q 0.08-0.2; a dust lane (50 % without bulge, 70 % with) multiplies the
      intrinsic light by ``exp(-tau_b exp(-y'^2 / 2w^2) exp(-|x'|/1.5R_e))`` with tau_r 0.3-1.2
      and tau_g : tau_r : tau_z = 3.214 : 2.165 : 1.211 (Schlafly & Finkbeiner 2011 DECam
      coefficients), so lanes are darkest in g. Magnitudes in the truth are *before* dust.
    * Disturbed: lopsided disc (m = 1 mode, amplitude 0.3-0.7), weak arms, 2-5 blue clumps
      (Gaussians, 2-8 % of the light each). Merging: two galaxies (flux ratio 0.3-1, separation
      0.8-2.5 primary R_e) plus one or two tidal tails (thin n = 0.5 components, 5-15 %).
    * Some barred (25 %) and unbarred (10 %) spirals get a ring (Gaussian annulus at 0.8-1.5 disc
      R_e), because the real sample in shared/data is ring galaxies.
    * Colours (AB): bulge/elliptical g-r 0.78, r-z 0.48 (scatter 0.05); disc 0.55 / 0.35;
      edge-on disc 0.70 / 0.45; bar 0.72 / 0.45; clumps 0.25 / 0.10; ring 0.45 / 0.30; tails
      0.60 / 0.40: typical of low-redshift DECaLS galaxies, not fitted.
    * Magnitudes: total r drawn in ``mag_range`` (default 14-18, the Galaxy Zoo DECaLS regime
      r < 17.77 plus a fainter tail for low-S/N stamps) with counts ``N(<m) ∝ 10^{0.4 m}``.
      Sizes follow a loose size-luminosity relation ``log10 R_e = log10 R0 - 0.1 (m - 16) +
      N(0, 0.12)`` with R0 = 2.5" (smooth), 4" (discs), 5" (edge-on), clipped so galaxies fit.
    * PSF: Moffat beta = 3.5, FWHM per band from the Stein et al. (2021) lognormal fits quoted in
      the spec (§1.4), read as *Gaussian sigma in pixels* (FWHM = 2.3548 x 0.262" x sigma): this
      reading gives median FWHMs of 1.48", 1.33", 1.25" in g, r, z, which are the survey's real
      seeing, whereas reading them as FWHM in arcsec would give 2.4" medians. The draws of the
      three bands share one normal deviate (the same night's seeing) and are truncated to
      ``seeing_range`` (default 1.0-1.6") by inverse-CDF sampling, not by clipping.
    * Noise: Gaussian, per pixel, sigma per band from the spec's lognormal fits (g: 0.2265,
      -0.00067, 0.00376; r: 0.2431, -0.00237, 0.00674; z: 0.1335, -0.01434, 0.02608; clipped to
      the quoted ranges), sky-subtracted (zero mean). Source shot noise is left out (sky
      dominated regime for galaxy outskirts; it underestimates the noise in bright cores).
    * Rendering: sub-pixel oversampling near every component centre, PSF by FFT on a stamp
      padded by 8 pixels, then cropped.

Truth (``GalaxyImages.truth``, one row per stamp): galaxy10 and lvm4 labels and names; total
magnitudes mag_g, mag_r, mag_z (before dust); x0, y0 (pixel centre of the main component);
n, re_px, re_arcsec, q, pa_deg of the main component (the disc for disc galaxies, the single
Sérsic for smooth ones, the primary's main component for mergers); bulge_frac, n_bulge,
re_bulge_px; n_arms, pitch_deg, bar, ring, dust; companion_dx/dy/flux_ratio for mergers;
psf_fwhm_{g,r,z} (arcsec); sigma_{g,r,z} (noise per pixel, nanomaggies); flux_stamp_{g,r,z}
(noise-free flux inside the stamp, after dust); snr_r (matched-filter S/N of the stamp).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from .images import LabelledImages
from .sersic import convolve_psf, render_profiles, sersic_fn, sersic_norm

__all__ = [
    "GALAXY10_CLASSES",
    "LVM4_CLASSES",
    "GALAXY10_TO_LVM4",
    "DECALS_BANDS",
    "DECALS_PIXEL_SCALE",
    "NOISE_LOGNORMAL",
    "PSF_LOGNORMAL",
    "GalaxySimConfig",
    "GalaxyImages",
    "to_lvm4",
    "simulate_galaxies",
    "galaxy_params",
    "render_galaxies",
    "measure_morphology",
]

GALAXY10_CLASSES: tuple[str, ...] = (
    "disturbed", "merging", "round smooth", "in-between round smooth", "cigar-shaped smooth",
    "barred spiral", "unbarred tight spiral", "unbarred loose spiral", "edge-on without bulge",
    "edge-on with bulge",
)
LVM4_CLASSES: tuple[str, ...] = ("elliptical", "edge-on", "spiral", "other")
#: Galaxy10-DECaLS class -> LVM four-class label (index into LVM4_CLASSES).
GALAXY10_TO_LVM4: dict[int, int] = {0: 3, 1: 3, 2: 0, 3: 0, 4: 0, 5: 2, 6: 2, 7: 2, 8: 1, 9: 1}

DECALS_BANDS: tuple[str, ...] = ("g", "r", "z")
DECALS_PIXEL_SCALE = 0.262  # arcsec / pixel
#: per-pixel noise sigma [nanomaggies]: lognormal (shape, loc, scale) and clip range (spec §1.4)
NOISE_LOGNORMAL = {
    "g": (0.2265, -0.00067, 0.00376, (0.0011, 0.013)),
    "r": (0.2431, -0.00237, 0.00674, (0.0011, 0.018)),
    "z": (0.1335, -0.01434, 0.02608, (0.0011, 0.061)),
}
#: PSF lognormal (shape, loc, scale), read as Gaussian sigma in pixels (spec §1.4)
PSF_LOGNORMAL = {"g": (0.2110, 1.0807, 1.3153), "r": (0.3008, 1.2394, 0.9165),
                 "z": (0.3471, 1.1928, 0.8234)}
_DUST_COEF = np.array([3.214, 2.165, 1.211]) / 2.165  # tau_b / tau_r for g, r, z
_COLOURS = {  # (g-r, r-z) means and scatter
    "bulge": (0.78, 0.48, 0.05), "disc": (0.55, 0.35, 0.07), "edge": (0.70, 0.45, 0.06),
    "bar": (0.72, 0.45, 0.05), "clump": (0.25, 0.10, 0.08), "ring": (0.45, 0.30, 0.06),
    "tail": (0.60, 0.40, 0.08),
}


def to_lvm4(galaxy10: np.ndarray | Sequence[int]) -> np.ndarray:
    """Map Galaxy10-DECaLS labels (0-9) to the LVM four classes (0-3, see :data:`LVM4_CLASSES`)."""
    g = np.asarray(galaxy10)
    if g.size and (g.min() < 0 or g.max() > 9):
        raise ValueError(f"Galaxy10 labels must be in 0..9, got range {g.min()}..{g.max()}")
    lut = np.array([GALAXY10_TO_LVM4[i] for i in range(10)])
    return lut[g.astype(int)]


@dataclass(frozen=True)
class GalaxySimConfig:
    """Settings of the DECaLS-like simulator (defaults: the CPU tier, 64x64 stamps)."""

    size: int = 64
    pixel_scale: float = DECALS_PIXEL_SCALE
    mag_range: tuple[float, float] = (14.0, 18.0)
    count_slope: float = 0.4  # d log10 N / dm of the magnitude draw
    size_scale: float = 1.0  # multiply all R_e (2.0 mimics the paper's crop-and-resize at 128 px)
    seeing_range: tuple[float, float] = (1.0, 1.6)  # arcsec FWHM
    psf: str = "moffat"
    moffat_beta: float = 3.5
    noise_scale: float = 1.0  # 0 gives noise-free stamps
    centre_jitter: float = 1.0  # pixels, uniform
    pad: int = 8
    oversample: int = 5
    chunk: int = 256


@dataclass
class GalaxyImages(LabelledImages):
    """Galaxy images (see :class:`~astrorepro.data.images.LabelledImages`): DECaLS g, r, z in
    nanomaggies from the simulator, or RGB in [0, 1] (``units="rgb"``, ``pixel_scale=None``) as the
    real JPEG composites."""

    bands: tuple[str, ...] = DECALS_BANDS
    units: str = "nanomaggies"
    pixel_scale: float | None = DECALS_PIXEL_SCALE

    def to_rgb(self, mapping: str = "dr2", **kw) -> "GalaxyImages":
        """The same images in RGB space (n, 3, H, W) in [0, 1].

        Args:
            mapping: "dr2" (:func:`astrorepro.data.decals.dr2_rgb`, the LVM paper's
                preprocessing) or "gz" (:func:`astrorepro.data.decals.gz_rgb`, the mapping of the
                Galaxy Zoo DECaLS JPEGs in the real sample).
            **kw: passed to the mapping.
        """
        if self.units == "rgb":
            return self
        from .decals import dr2_rgb, gz_rgb

        fns = {"dr2": dr2_rgb, "gz": gz_rgb}
        if mapping not in fns:
            raise ValueError(f"mapping must be 'dr2' or 'gz', got {mapping!r}")
        return replace(self, images=fns[mapping](self.images, bands=self.bands, **kw),
                       bands=("R", "G", "B"), units="rgb")


# ----------------------------------------------------------------------------- parameters


def _truncated_lognormal(z: np.ndarray, shape: float, loc: float, scale: float,
                         lo: float, hi: float) -> np.ndarray:
    """Map standard normal deviates z to a lognormal truncated to [lo, hi] (inverse CDF)."""
    zl = np.log(max(lo - loc, 1e-12) / scale) / shape
    zh = np.log(max(hi - loc, 1e-12) / scale) / shape
    ul, uh = ndtr(zl), ndtr(zh)
    u = ul + ndtr(z) * (uh - ul)
    return loc + scale * np.exp(shape * ndtri(np.clip(u, 1e-12, 1 - 1e-12)))


def draw_observing(n: int, rng: np.random.Generator, cfg: GalaxySimConfig) -> dict[str, np.ndarray]:
    """PSF FWHM (arcsec) and noise sigma (nanomaggies) per band for n stamps (see module doc)."""
    z = rng.standard_normal(n)  # shared seeing deviate
    to_sig = 1.0 / (2.3548 * cfg.pixel_scale)  # arcsec FWHM -> sigma in pixels
    out: dict[str, np.ndarray] = {}
    for b in DECALS_BANDS:
        s, loc, sc = PSF_LOGNORMAL[b]
        sig = _truncated_lognormal(z, s, loc, sc, cfg.seeing_range[0] * to_sig,
                                   cfg.seeing_range[1] * to_sig)
        out[f"psf_fwhm_{b}"] = sig / to_sig
    for b in DECALS_BANDS:
        s, loc, sc, (lo, hi) = NOISE_LOGNORMAL[b]
        sig = np.clip(loc + sc * np.exp(s * rng.standard_normal(n)), lo, hi)
        out[f"sigma_{b}"] = sig * cfg.noise_scale
    return out


class _Comps:
    """Accumulates components (one row each) for vectorised rendering."""

    KEYS = ("stamp", "kind", "x0", "y0", "q", "pa", "n", "re", "frac", "gr", "rz", "m", "pitch",
            "amp", "phase", "rin", "lop", "lphase", "rring", "wring")

    def __init__(self) -> None:
        self.rows: dict[str, list[np.ndarray]] = {k: [] for k in self.KEYS}

    def add(self, stamp: np.ndarray, kind: int, rng: np.random.Generator, colour: str,
            **kw: np.ndarray) -> None:
        m = len(stamp)
        if m == 0:
            return
        gr, rz, s = _COLOURS[colour]
        kw.setdefault("gr", gr + s * rng.standard_normal(m))
        kw.setdefault("rz", rz + s * rng.standard_normal(m))
        for k in self.KEYS:
            if k == "stamp":
                v = stamp
            elif k == "kind":
                v = np.full(m, kind)
            else:
                v = kw.get(k, 0.0)
            self.rows[k].append(np.broadcast_to(np.asarray(v, float), (m,)).copy()
                                if k not in ("stamp", "kind") else np.asarray(v, int))

    def table(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) if v else np.zeros(0) for k, v in self.rows.items()}


SERSIC, DISC, RING = 0, 1, 2


def _u(rng: np.random.Generator, lo: float, hi: float, m: int) -> np.ndarray:
    return rng.uniform(lo, hi, m)


def galaxy_params(galaxy10: np.ndarray, rng: np.random.Generator,
                  cfg: GalaxySimConfig = GalaxySimConfig(), centres: np.ndarray | None = None):
    """Draw the components and truth of galaxies of the given Galaxy10 classes.

    Args:
        galaxy10: (n,) class labels 0-9.
        rng: numpy Generator.
        cfg: simulator settings (size, magnitudes, sizes).
        centres: optional (n, 2) pixel centres (x, y) on the padded grid; default stamp centre
            plus jitter.

    Returns:
        (components, truth): a dict of component arrays (with ``stamp`` index into the n
        galaxies; positions on the padded grid of size ``cfg.size + 2 cfg.pad``) and a truth
        DataFrame (positions in the unpadded stamp frame).
    """
    g10 = np.asarray(galaxy10, int)
    n = len(g10)
    S, P, ps = cfg.size, cfg.pad, cfg.pixel_scale
    lo, hi = cfg.mag_range
    # magnitudes: N(<m) ∝ 10^{a m}  ->  inverse CDF on [lo, hi]
    a = cfg.count_slope * np.log(10)
    u = rng.uniform(size=n)
    mag = np.log(np.exp(a * lo) + u * (np.exp(a * hi) - np.exp(a * lo))) / a if a > 0 \
        else lo + u * (hi - lo)
    flux = 10 ** (-0.4 * (mag - 22.5))
    if centres is None:
        c = (S - 1) / 2 + P
        cx = c + rng.uniform(-cfg.centre_jitter, cfg.centre_jitter, n)
        cy = c + rng.uniform(-cfg.centre_jitter, cfg.centre_jitter, n)
    else:
        cx, cy = np.asarray(centres, float).T
    r0 = np.select([np.isin(g10, [2, 3, 4]), np.isin(g10, [8, 9])], [2.5, 5.0], 4.0)
    re = r0 / ps * 10 ** (-0.1 * (mag - 16) + 0.12 * rng.standard_normal(n)) * cfg.size_scale
    re = np.clip(re, 2.0, 0.35 * S * cfg.size_scale)
    pa = rng.uniform(0, np.pi, n)
    T = {k: np.zeros(n) for k in ("n", "q", "bulge_frac", "n_bulge", "re_bulge_px", "n_arms",
                                  "pitch_deg", "bar", "ring", "dust", "tau_r", "companion_dx",
                                  "companion_dy", "companion_flux_ratio")}
    T["re_px"] = re.copy()
    C = _Comps()

    # --- smooth: 2 round, 3 in-between, 4 cigar
    for k, (nl, nh, ql, qh) in {2: (3, 5.5, 0.75, 1.0), 3: (2.5, 4.5, 0.45, 0.75),
                                4: (1.5, 3.0, 0.2, 0.45)}.items():
        i = np.flatnonzero(g10 == k)
        m = len(i)
        nn, qq = _u(rng, nl, nh, m), _u(rng, ql, qh, m)
        C.add(i, SERSIC, rng, "bulge", x0=cx[i], y0=cy[i], q=qq, pa=pa[i], n=nn, re=re[i], frac=1.0)
        T["n"][i], T["q"][i], T["bulge_frac"][i] = nn, qq, 1.0
        T["n_bulge"][i], T["re_bulge_px"][i] = nn, re[i]

    # --- spirals: 5 barred, 6 tight, 7 loose
    for k in (5, 6, 7):
        i = np.flatnonzero(g10 == k)
        m = len(i)
        if m == 0:
            continue
        bt = _u(rng, 0.10 if k == 5 else 0.05, 0.35, m)
        bar_f = _u(rng, 0.08, 0.20, m) if k == 5 else np.zeros(m)
        has_ring = rng.uniform(size=m) < (0.25 if k == 5 else 0.10)
        ring_f = np.where(has_ring, _u(rng, 0.05, 0.15, m), 0.0)
        disc_f = 1 - bt - bar_f - ring_f
        qd, nd = _u(rng, 0.35, 1.0, m), _u(rng, 0.8, 1.2, m)
        nb, rb = _u(rng, 1.5, 3.5, m), _u(rng, 0.15, 0.3, m) * re[i]
        if k == 5:
            arms, pitch = np.full(m, 2), _u(rng, 12, 25, m)
        elif k == 6:
            arms, pitch = rng.choice([2, 2, 3, 4], m), _u(rng, 8, 16, m)
        else:
            arms, pitch = rng.choice([2, 2, 3], m), _u(rng, 20, 35, m)
        bar_len = _u(rng, 0.4, 0.7, m) * re[i]
        rin = np.where(k == 5, bar_len, 0.3 * re[i])
        C.add(i, DISC, rng, "disc", x0=cx[i], y0=cy[i], q=qd, pa=pa[i], n=nd, re=re[i],
              frac=disc_f, m=arms, pitch=np.radians(pitch), amp=_u(rng, 0.6, 0.95, m),
              phase=_u(rng, 0, 2 * np.pi, m), rin=rin)
        C.add(i, SERSIC, rng, "bulge", x0=cx[i], y0=cy[i], q=_u(rng, 0.7, 1.0, m),
              pa=pa[i] + 0.2 * rng.standard_normal(m), n=nb, re=rb, frac=bt)
        j = bar_f > 0
        C.add(i[j], SERSIC, rng, "bar", x0=cx[i][j], y0=cy[i][j], q=_u(rng, 0.2, 0.35, j.sum()),
              pa=_u(rng, 0, np.pi, j.sum()), n=0.5, re=bar_len[j], frac=bar_f[j])
        C.add(i[has_ring], RING, rng, "ring", x0=cx[i][has_ring], y0=cy[i][has_ring],
              q=qd[has_ring], pa=pa[i][has_ring], frac=ring_f[has_ring],
              rring=_u(rng, 0.8, 1.5, has_ring.sum()) * re[i][has_ring],
              wring=_u(rng, 0.08, 0.15, has_ring.sum()) * re[i][has_ring])
        T["n"][i], T["q"][i], T["bulge_frac"][i], T["n_bulge"][i] = nd, qd, bt, nb
        T["re_bulge_px"][i], T["n_arms"][i], T["pitch_deg"][i] = rb, arms, pitch
        T["bar"][i], T["ring"][i] = (k == 5), has_ring

    # --- edge-on: 8 without bulge, 9 with bulge
    for k in (8, 9):
        i = np.flatnonzero(g10 == k)
        m = len(i)
        if m == 0:
            continue
        bt = _u(rng, 0.15, 0.45, m) if k == 9 else np.zeros(m)
        qd, nd = _u(rng, 0.08, 0.2, m), _u(rng, 0.8, 1.3, m)
        C.add(i, SERSIC, rng, "edge", x0=cx[i], y0=cy[i], q=qd, pa=pa[i], n=nd, re=re[i],
              frac=1 - bt)
        if k == 9:
            nb, rb = _u(rng, 2.0, 4.0, m), _u(rng, 0.15, 0.35, m) * re[i]
            C.add(i, SERSIC, rng, "bulge", x0=cx[i], y0=cy[i], q=_u(rng, 0.55, 0.85, m),
                  pa=pa[i], n=nb, re=rb, frac=bt)
            T["n_bulge"][i], T["re_bulge_px"][i] = nb, rb
        dust = rng.uniform(size=m) < (0.5 if k == 8 else 0.7)
        T["n"][i], T["q"][i], T["bulge_frac"][i] = nd, qd, bt
        T["dust"][i], T["tau_r"][i] = dust, np.where(dust, _u(rng, 0.3, 1.2, m), 0.0)

    # --- disturbed (0)
    i = np.flatnonzero(g10 == 0)
    m = len(i)
    if m:
        nclump = rng.integers(2, 6, m)
        cf = [np.where(nclump > c, _u(rng, 0.02, 0.08, m), 0.0) for c in range(5)]
        bt = _u(rng, 0.0, 0.15, m)
        qd, nd = _u(rng, 0.4, 1.0, m), _u(rng, 0.6, 1.5, m)
        C.add(i, DISC, rng, "disc", x0=cx[i], y0=cy[i], q=qd, pa=pa[i], n=nd, re=re[i],
              frac=1 - bt - sum(cf), m=rng.choice([0, 1, 2], m), pitch=np.radians(_u(rng, 10, 40, m)),
              amp=_u(rng, 0.0, 0.4, m), phase=_u(rng, 0, 2 * np.pi, m), rin=0.3 * re[i],
              lop=_u(rng, 0.3, 0.7, m), lphase=_u(rng, 0, 2 * np.pi, m))
        j = bt > 0.01
        C.add(i[j], SERSIC, rng, "bulge", x0=cx[i][j], y0=cy[i][j], q=_u(rng, 0.6, 1, j.sum()),
              pa=pa[i][j], n=2.0, re=0.2 * re[i][j], frac=bt[j])
        for c in range(5):
            j = cf[c] > 0
            r_ = re[i][j] * np.sqrt(_u(rng, 0.05, 1.5, j.sum()))
            t_ = _u(rng, 0, 2 * np.pi, j.sum())
            C.add(i[j], SERSIC, rng, "clump", x0=cx[i][j] + r_ * np.cos(t_),
                  y0=cy[i][j] + r_ * np.sin(t_), q=_u(rng, 0.6, 1.0, j.sum()),
                  pa=_u(rng, 0, np.pi, j.sum()), n=0.5, re=_u(rng, 0.8, 2.0, j.sum()), frac=cf[c][j])
        T["n"][i], T["q"][i], T["bulge_frac"][i], T["n_bulge"][i] = nd, qd, bt, 2.0
        T["re_bulge_px"][i] = 0.2 * re[i]

    # --- merging (1): primary + secondary + tails; the light-weighted centre sits at (cx, cy)
    i = np.flatnonzero(g10 == 1)
    m = len(i)
    if m:
        ratio = _u(rng, 0.3, 1.0, m)
        tail_f = _u(rng, 0.05, 0.15, m)
        two_tails = rng.uniform(size=m) < 0.5
        f1 = (1 - tail_f) / (1 + ratio)
        f2 = f1 * ratio
        sep = _u(rng, 0.8, 2.5, m) * re[i]
        ang = _u(rng, 0, 2 * np.pi, m)
        dx, dy = sep * np.cos(ang), sep * np.sin(ang)
        x1, y1 = cx[i] - dx * ratio / (1 + ratio), cy[i] - dy * ratio / (1 + ratio)
        ell = rng.uniform(size=m) < 0.5  # primary elliptical-like or disc-like
        n1 = np.where(ell, _u(rng, 2.5, 4.0, m), _u(rng, 0.8, 1.3, m))
        q1 = _u(rng, 0.4, 1.0, m)
        C.add(i, SERSIC, rng, "bulge", x0=x1, y0=y1, q=q1, pa=pa[i], n=n1, re=re[i], frac=f1,
              gr=np.where(ell, 0.78, 0.55) + 0.05 * rng.standard_normal(m),
              rz=np.where(ell, 0.48, 0.35) + 0.05 * rng.standard_normal(m))
        C.add(i, SERSIC, rng, "disc", x0=x1 + dx, y0=y1 + dy, q=_u(rng, 0.4, 1.0, m),
              pa=_u(rng, 0, np.pi, m), n=_u(rng, 1.0, 4.0, m), re=re[i] * np.sqrt(ratio), frac=f2)
        for t in range(2):
            j = np.ones(m, bool) if t == 0 else two_tails
            nt = j.sum()
            sgn = 1 if t == 0 else -1
            perp = ang[j] + sgn * np.pi / 2 + 0.4 * rng.standard_normal(nt)
            d = _u(rng, 1.0, 1.8, nt) * re[i][j]
            C.add(i[j], SERSIC, rng, "tail", x0=cx[i][j] + d * np.cos(perp),
                  y0=cy[i][j] + d * np.sin(perp), q=_u(rng, 0.1, 0.25, nt), pa=perp[:] + np.pi / 2,
                  n=0.5, re=_u(rng, 0.8, 1.5, nt) * re[i][j],
                  frac=tail_f[j] * np.where(two_tails[j], 0.5, 1.0))
        T["n"][i], T["q"][i], T["bulge_frac"][i] = n1, q1, 0.0
        T["companion_dx"][i], T["companion_dy"][i], T["companion_flux_ratio"][i] = dx, dy, ratio
        cx = cx.copy(); cy = cy.copy()  # noqa: E702
        cx[i], cy[i] = x1, y1

    comps = C.table()
    comps["flux_r"] = comps["frac"] * flux[comps["stamp"].astype(int)]
    # per-band totals (intrinsic, before dust)
    fb = np.zeros((n, 3))
    for b, col in enumerate((10 ** (-0.4 * comps["gr"]), np.ones_like(comps["gr"]),
                             10 ** (0.4 * comps["rz"]))):
        np.add.at(fb[:, b], comps["stamp"].astype(int), comps["flux_r"] * col)
    truth = pd.DataFrame({
        "galaxy10": g10, "galaxy10_name": np.array(GALAXY10_CLASSES, dtype=object)[g10],
        "lvm4": to_lvm4(g10), "lvm4_name": np.array(LVM4_CLASSES, dtype=object)[to_lvm4(g10)],
        "mag_g": 22.5 - 2.5 * np.log10(fb[:, 0]), "mag_r": mag, "mag_z": 22.5 - 2.5 * np.log10(fb[:, 2]),
        "x0": cx - P, "y0": cy - P, "n": T["n"], "re_px": T["re_px"], "re_arcsec": T["re_px"] * ps,
        "q": T["q"], "pa_deg": np.degrees(pa) % 180.0,
    })
    for k in ("bulge_frac", "n_bulge", "re_bulge_px", "n_arms", "pitch_deg", "bar", "ring", "dust",
              "tau_r", "companion_dx", "companion_dy", "companion_flux_ratio"):
        truth[k] = T[k]
    for k in ("n_arms", "bar", "ring", "dust"):
        truth[k] = truth[k].astype(int if k == "n_arms" else bool)
    return comps, truth


# ----------------------------------------------------------------------------- rendering


def _disc_fn(ie, n, re, m, pitch, amp, phase, rin, lop, lphase):
    base = sersic_fn(ie, n, re)
    prm = [np.asarray(a, np.float32) for a in (re, m, np.tan(np.maximum(pitch, 1e-3)), amp, phase,
                                               np.maximum(rin, 1e-3), lop, lphase)]

    def f(u, v):
        sh = (-1,) + (1,) * (u.ndim - 1)
        re_, m_, tp, a_, ph, ri, lp, lph = (p.reshape(sh) for p in prm)
        r = np.sqrt(u * u + v * v) + np.float32(1e-3)
        th = np.arctan2(v, u)
        w = 1.0 - np.exp(-(r / ri) ** 2)
        arm = (0.5 + 0.5 * np.cos(m_ * (th - np.log(r / re_) / tp - ph))) ** 4 / np.float32(70 / 256)
        mod = 1.0 + a_ * w * (arm - 1.0)
        mod = mod * (1.0 + lp * w * np.cos(th - lph))
        return base(u, v) * mod

    return f


def _ring_fn(flux, rr, wr, q):
    rr, wr = np.asarray(rr, float), np.asarray(wr, float)
    from scipy.special import erf

    # integral of exp(-(r-R)^2/2w^2) 2 pi r dr over r >= 0, times q (elliptical area)
    norm = 2 * np.pi * wr * (wr * np.exp(-rr**2 / (2 * wr**2))
                             + rr * np.sqrt(np.pi / 2) * (1 + erf(rr / (np.sqrt(2) * wr)))) * q
    a_, rr_, wr_ = (np.asarray(x, np.float32) for x in (flux / norm, rr, wr))

    def f(u, v):
        sh = (-1,) + (1,) * (u.ndim - 1)
        r = np.sqrt(u * u + v * v)
        return a_.reshape(sh) * np.exp(-0.5 * ((r - rr_.reshape(sh)) / wr_.reshape(sh)) ** 2)

    return f


def _render_unit(comps: dict[str, np.ndarray], sel: np.ndarray, shape: tuple[int, int],
                 cfg: GalaxySimConfig) -> np.ndarray:
    """Render components ``sel`` with unit total flux; returns (len(sel), H, W)."""
    c = {k: v[sel] for k, v in comps.items()}
    kind = int(c["kind"][0])
    one = np.ones(len(sel))
    if kind == RING:
        fn = _ring_fn(one, c["rring"], c["wring"], c["q"])
        return render_profiles(shape, c["x0"], c["y0"], c["q"], c["pa"], fn, oversample=1)
    ie = sersic_norm(one, c["n"], c["re"], c["q"])
    if kind == DISC:
        fn = _disc_fn(ie, c["n"], c["re"], c["m"], c["pitch"], c["amp"], c["phase"], c["rin"],
                      c["lop"], c["lphase"])
    else:
        fn = sersic_fn(ie, c["n"], c["re"])
    return render_profiles(shape, c["x0"], c["y0"], c["q"], c["pa"], fn, oversample=cfg.oversample)


def render_galaxies(comps: dict[str, np.ndarray], truth: pd.DataFrame, fwhm_arcsec: np.ndarray,
                    cfg: GalaxySimConfig = GalaxySimConfig(), stamps: np.ndarray | None = None
                    ) -> np.ndarray:
    """Noise-free, PSF-convolved (n, 3, size+2pad, size+2pad) cubes of the given galaxies.

    Args:
        comps, truth: from :func:`galaxy_params`.
        fwhm_arcsec: (n, 3) PSF FWHM per stamp and band.
        cfg: settings.
        stamps: which galaxies (indices into truth) to render; default all.

    Returns:
        float32 (len(stamps), 3, Hp, Wp) in nanomaggies, still padded.
    """
    if stamps is None:
        stamps = np.arange(len(truth))
    Hp = cfg.size + 2 * cfg.pad
    out = np.zeros((len(stamps), 3, Hp, Hp), np.float32)
    pos = -np.ones(len(truth), int)
    pos[stamps] = np.arange(len(stamps))
    cst = comps["stamp"].astype(int)
    keep = pos[cst] >= 0
    gr, rz = comps["gr"], comps["rz"]
    band_flux = np.stack([comps["flux_r"] * 10 ** (-0.4 * gr), comps["flux_r"],
                          comps["flux_r"] * 10 ** (0.4 * rz)], 1).astype(np.float32)
    for kind in (SERSIC, DISC, RING):
        sel = np.flatnonzero(keep & (comps["kind"] == kind))
        for s0 in range(0, len(sel), cfg.chunk):
            ss = sel[s0:s0 + cfg.chunk]
            img = _render_unit(comps, ss, (Hp, Hp), cfg)
            tgt = pos[cst[ss]]
            # several components of one stamp in a chunk: accumulate occurrence by occurrence
            order = np.argsort(tgt, kind="stable")
            tg = tgt[order]
            occ = np.arange(len(tg)) - np.searchsorted(tg, tg, side="left")
            for o in range(occ.max() + 1 if len(occ) else 0):
                k = order[occ == o]
                out[tgt[k]] += img[k][:, None] * band_flux[ss[k]][:, :, None, None]
    # dust lanes (edge-on discs), applied to the intrinsic light before the PSF
    dust = truth["dust"].to_numpy()[stamps]
    if dust.any():
        j = np.flatnonzero(dust)
        t = truth.iloc[stamps[j]]
        x0 = t["x0"].to_numpy() + cfg.pad
        y0 = t["y0"].to_numpy() + cfg.pad
        pa = np.radians(t["pa_deg"].to_numpy())
        re = t["re_px"].to_numpy()
        w = np.maximum(0.7, 0.25 * t["q"].to_numpy() * re)
        ax = np.arange(Hp, dtype=np.float32)
        dx = ax[None, None, :] - x0[:, None, None]
        dy = ax[None, :, None] - y0[:, None, None]
        c, s = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
        along, perp = dx * c + dy * s, -dx * s + dy * c
        tau_map = np.exp(-0.5 * (perp / w[:, None, None]) ** 2) * np.exp(-np.abs(along) / (1.5 * re[:, None, None]))
        tau = t["tau_r"].to_numpy()[:, None] * _DUST_COEF[None, :]  # (m, 3)
        out[j] *= np.exp(-tau[:, :, None, None] * tau_map[:, None]).astype(np.float32)
    fwhm_px = np.asarray(fwhm_arcsec, float)[stamps] / cfg.pixel_scale
    return convolve_psf(out, fwhm_px, kind=cfg.psf, beta=cfg.moffat_beta)


def simulate_galaxies(
    n: int,
    seed: int | np.random.Generator = 0,
    scheme: str = "lvm4",
    classes: Sequence[int] | None = None,
    labels: np.ndarray | None = None,
    config: GalaxySimConfig | None = None,
    progress: bool = False,
    **overrides,
) -> GalaxyImages:
    """Simulate n DECaLS-like g, r, z stamps (see the module docstring for the physics).

    Args:
        n: number of stamps.
        seed: int seed or numpy Generator (deterministic for a fixed seed).
        scheme: "lvm4" (labels elliptical / edge-on / spiral / other; each drawn with equal
            probability, then a Galaxy10 subclass uniformly inside it) or "galaxy10" (ten classes
            drawn uniformly).
        classes: restrict to these class indices of the scheme (default all).
        labels: explicit (n,) labels in the scheme instead of random draws.
        config: a :class:`GalaxySimConfig`; ``**overrides`` replace its fields.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`GalaxyImages` in nanomaggies with ``labels`` in the chosen scheme and the full
        truth table.
    """
    cfg = replace(config or GalaxySimConfig(), **overrides)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if scheme not in ("lvm4", "galaxy10"):
        raise ValueError(f"scheme must be 'lvm4' or 'galaxy10', got {scheme!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    k = 4 if scheme == "lvm4" else 10
    allowed = np.arange(k) if classes is None else np.asarray(classes, int)
    if allowed.size == 0 or allowed.min() < 0 or allowed.max() >= k:
        raise ValueError(f"classes must be indices in 0..{k - 1} for scheme {scheme!r}")
    lab = rng.choice(allowed, n) if labels is None else np.asarray(labels, int)
    if len(lab) != n or lab.min() < 0 or lab.max() >= k:
        raise ValueError(f"labels must have length {n} and values in 0..{k - 1}")
    if scheme == "lvm4":
        # each LVM class has 2 or 3 Galaxy10 members; an integer in 0..5 modulo 2 or 3 is uniform
        members = [[g for g in range(10) if GALAXY10_TO_LVM4[g] == c] for c in range(4)]
        g10 = np.array([members[c][i] for c, i in
                        zip(lab, rng.integers(0, 6, n) % np.array([len(members[c]) for c in lab]))])
    else:
        g10 = lab
    comps, truth = galaxy_params(g10, rng, cfg)
    obs = draw_observing(n, rng, cfg)
    for key, v in obs.items():
        truth[key] = v
    fwhm = np.stack([obs[f"psf_fwhm_{b}"] for b in DECALS_BANDS], 1)
    sig = np.stack([obs[f"sigma_{b}"] for b in DECALS_BANDS], 1).astype(np.float32)
    S, P = cfg.size, cfg.pad
    images = np.empty((n, 3, S, S), np.float32)
    fstamp = np.empty((n, 3))
    snr = np.empty(n)
    from tqdm.auto import tqdm

    for s0 in tqdm(range(0, n, cfg.chunk), disable=not progress, desc="galaxies"):
        st = np.arange(s0, min(n, s0 + cfg.chunk))
        clean = render_galaxies(comps, truth, fwhm, cfg, stamps=st)[:, :, P:P + S, P:P + S]
        fstamp[st] = clean.sum((2, 3))
        snr[st] = np.sqrt((clean[:, 1] ** 2).sum((1, 2))) / np.maximum(sig[st, 1], 1e-12)
        noise = rng.standard_normal(clean.shape, dtype=np.float32) * sig[st][:, :, None, None]
        images[st] = clean + noise
    for b, name in enumerate(DECALS_BANDS):
        truth[f"flux_stamp_{name}"] = fstamp[:, b]
    truth["snr_r"] = snr if cfg.noise_scale > 0 else np.inf
    names = LVM4_CLASSES if scheme == "lvm4" else GALAXY10_CLASSES
    return GalaxyImages(images=images, labels=lab, class_names=names, truth=truth,
                        bands=DECALS_BANDS, units="nanomaggies", pixel_scale=cfg.pixel_scale)


# ----------------------------------------------------------------------------- measurement


def measure_morphology(images: np.ndarray, clip_sigma: float | None = None) -> pd.DataFrame:
    """Model-free structure of single-band images (n, H, W): centroid, moments, radii.

    Flux-weighted with negative pixels set to zero (and, with ``clip_sigma``, pixels below
    ``clip_sigma`` times a robust noise estimate from the stamp border also set to zero).
    Radii r20, r50, r80 are circular radii around the centroid enclosing 20/50/80 % of the
    positive flux in the stamp; concentration ``C = 5 log10(r80/r20)`` (Conselice 2003).
    q and pa come from the second moments (q = sqrt(lambda_min/lambda_max)).

    Returns:
        DataFrame with x, y, q, pa_deg, r20, r50, r80, concentration (pixels).
    """
    im = np.asarray(images, np.float64)
    if im.ndim != 3:
        raise ValueError(f"images must be (n, H, W), got {im.shape}")
    n, H, W = im.shape
    if clip_sigma is not None:
        border = np.concatenate([im[:, :3].reshape(n, -1), im[:, -3:].reshape(n, -1),
                                 im[:, :, :3].reshape(n, -1), im[:, :, -3:].reshape(n, -1)], 1)
        sig = 1.4826 * np.median(np.abs(border - np.median(border, 1, keepdims=True)), 1)
        im = np.where(im > clip_sigma * sig[:, None, None], im, 0.0)
    w = np.clip(im, 0, None)
    tot = w.sum((1, 2)) + 1e-30
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    x = (w * xx).sum((1, 2)) / tot
    y = (w * yy).sum((1, 2)) / tot
    dx = xx[None] - x[:, None, None]
    dy = yy[None] - y[:, None, None]
    mxx = (w * dx * dx).sum((1, 2)) / tot
    myy = (w * dy * dy).sum((1, 2)) / tot
    mxy = (w * dx * dy).sum((1, 2)) / tot
    tr, det = mxx + myy, mxx * myy - mxy**2
    disc = np.sqrt(np.maximum(tr**2 / 4 - det, 0))
    l1, l2 = tr / 2 + disc, np.maximum(tr / 2 - disc, 0)
    q = np.sqrt(l2 / np.maximum(l1, 1e-30))
    pa = np.degrees(0.5 * np.arctan2(2 * mxy, mxx - myy)) % 180
    r = np.sqrt(dx * dx + dy * dy).reshape(n, -1)
    order = np.argsort(r, 1)
    rs = np.take_along_axis(r, order, 1)
    cum = np.cumsum(np.take_along_axis(w.reshape(n, -1), order, 1), 1) / tot[:, None]
    rad = {}
    for p in (0.2, 0.5, 0.8):
        idx = np.minimum((cum < p).sum(1), H * W - 1)
        rad[p] = rs[np.arange(n), idx]
    return pd.DataFrame({"x": x, "y": y, "q": q, "pa_deg": pa, "r20": rad[0.2], "r50": rad[0.5],
                         "r80": rad[0.8],
                         "concentration": 5 * np.log10(rad[0.8] / np.maximum(rad[0.2], 0.5))})
