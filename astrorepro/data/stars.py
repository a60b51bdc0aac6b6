"""Simulated stars: correlated labels and their spectra seen by LAMOST LRS and Gaia XP (paired views).

Shared generator of the Spectra-as-Language and SpecCLIP chapters (spec Sec. 4). Simple physics,
vectorised over stars (numpy float32), every modelling choice listed here.

Labels (:func:`sample_labels`)
    Three populations: thin disc (75%), thick disc (18%), halo (7%, the metal-poor tail) with
    [Fe/H] ~ N(-0.05, 0.22), N(-0.55, 0.25), N(-1.5, 0.45), clipped to [-2.5, 0.5]. [alpha/Fe]: thin
    disc 0.02 - 0.10 [Fe/H]; thick disc and halo a plateau at 0.30 below [Fe/H] = -0.8 falling to 0.12 at
    solar (25% of the halo is alpha-poor, 0.10); scatter 0.03 dex. Stages on isochrone-like tracks:
    main sequence (55%; log g = 4.45 + 0.35 (5777 - Teff) / 2300 minus up to 0.3 dex of ageing; old
    populations stop at a turn-off 5900 - 250 [Fe/H] + 300 K), subgiants (8%), red-giant branch (25%;
    Teff = 4700 + 330 (log g - 2.5) - 180 [Fe/H]) and red clump (12%; log g ~ 2.45, Teff ~ 4720 - 250 [Fe/H]).
    Teff in [3500, 8000] K, log g in [0.5, 5]. ~20 [X/Fe] (``ELEMENTS``) follow [alpha/Fe] with
    element-specific slopes (O 1.1, Mg 1.0, Si 0.8, S 0.9, Ca 0.7, Ti 0.6), odd-Z and iron-peak trends
    (Mn and Cu rise with [Fe/H], Ba anti-correlates with alpha), giants show first-dredge-up mixing
    ([C/Fe] down, [N/Fe] up as log g falls) and scatter 0.03-0.12 dex; clipped to [-0.6, 0.8]. RV ~
    N(-5, 25), N(-10, 50), N(0, 110) km/s per population, clipped to +-200. E(BP-RP) ~ Exp(0.2) in
    [0, 1]. LAMOST S/N (g band) log-normal, median 40, 0.35 dex, in [5, 200]; Gaia XP S/N correlated
    with it (the star's brightness), median 100, in [5, 1000].

Continuum
    Planck B_lambda(Teff) x CCM89 extinction (Cardelli, Clayton & Mathis 1989, R_V = 3.1; A_V = 3.1
    E(B-V), E(B-V) = E(BP-RP) / 1.339) x a Balmer jump below 3646 A of depth D = 0.45 exp(-((theta-0.55)
    /0.22)^2) dex (theta = 5040/Teff; peaks near 9000 K), smoothed over 15 A.

Lines: flux = continuum x exp(-sum_j w_j phi_j(lambda)), phi_j the instrument-broadened profile of
    line j normalised to unit area (w_j its equivalent width, EW) or to unit peak (molecular bands,
    w_j their peak depth). Profiles are precomputed on each grid (:func:`_lrs_model`, :func:`_xp_model`);
    per star only the (N, n_components) weight matrix is computed and one matmul gives the opacity.
    * Atomic lines (real, :mod:`astrorepro.data.linelist`): LTE line-to-continuum opacity ratio
      log tau0 = log gf + A(X) - 12 + [X/H] - theta chi + log f_ion - log kappa_c + log(lambda / 5000 A)
      - log(v_D / 2 km/s) + C0, with Saha ionisation fractions f_ion (neutral and singly ionised
      stages; log N_II/N_I = 2.5 log T - theta I - 0.1762 - log P_e), an H- continuum kappa_c ~ P_e
      theta^2.5 10^(0.754 theta), and an electron pressure log P_e = 1.2 + 0.55 (log g - 4.44) + 1.8
      tanh((Teff - 5777) / 2250) + 0.3 [M/H] (a fit-by-eye to model atmospheres at tau ~ 1). This gives
      the textbook behaviour (Gray, "The Observation and Analysis of Stellar Photospheres", ch. 13):
      neutral lines of mostly ionised elements barely feel gravity, ionised lines strengthen in giants,
      low-excitation lines grow strongly in cool stars, all metal lines fade in A stars.
      EW = Delta lambda_D x CoG(tau0, a): the exact Voigt curve of growth (tabulated once), Doppler
      width from thermal + microturbulent (1.0 + 0.35 (4.44 - log g) km/s) velocities, damping
      a = a0 10^(0.3 (log g - 4.44)) (2 km/s / v_D). C0 is set so that Fe I 5232.9 A has EW = 0.346 A
      in the Sun. Strong lines (Ca II, Ca I 4227, Mg b, Na D, K I) put their damping-wing EW into
      pseudo-Voigt wing components (Lorentz HWHM 0.3 x wing EW, interpolated between 4 basis widths).
    * Pseudo-line forest (NOT real lines): same physics (evaluated at 5000 A), grouped in (element,
      stage, chi, log gf) classes, each class one precomputed profile column. Their log gf are shifted
      by ``PSEUDO_GF_OFFSET = -2`` dex: random line positions cannot match real ones, and at full
      strength they made simulated-minus-real residuals larger than the real line structure itself
      (tuned on the even-numbered labelled LAMOST DR1 spectra; the odd-numbered ones stay a held-out
      check, see the book page ``data_spectra``). The Balmer wing width was chosen on the same stars.
    * Hydrogen: EW(H-alpha) = 25 A x 10^(-3.6 |theta - 0.56|^1.3) x 10^(0.15 s (log g - 4)), s =
      sigmoid((Teff - 6500)/500) (Stark wings are a gravity probe only in hot stars); other Balmer lines
      scaled by fixed ratios; Paschen lines gated on by sigmoid((Teff - 6500)/600); 20% of the EW in the
      Doppler core, 80% in Lorentz wings of HWHM 0.4 EW.
    * Molecular bands (TiO, CaH, MgH, CH, CN, C2): peak depth tau = tau_ref 10^(n_A [A/H] + n_B [B/H] +
      D (theta - theta_ref) + p (log g - log g_ref)), D a dissociation-like energy (molecules form in
      cool, dense atmospheres), a red- or violet-degraded exponential tail from the real band head.

Instruments
    * LAMOST LRS (views ``lamost``, ``specclip``, ``wide``): Gaussian line-spread function at R = 1800,
      opacity computed on the rest-frame log grid, then Doppler-shifted by RV (exact shift in log
      lambda: the same sub-pixel offset for every pixel, applied with Keys cubic interpolation); telluric O2 A/B and H2O bands in the
      observed frame; a smooth multiplicative flux-calibration error (Legendre order 3, 3% rms);
      Poisson-like noise sigma ~ sqrt(F / T(lambda)) with an approximate LRS throughput T (low at both
      ends, a dip at the 5900 A dichroic), scaled so that the median g-band (4000-5500 A) S/N is the
      star's ``snr``; 0.1% of pixels dead (ivar = 0, masked). ``specclip`` and ``wide`` are slices of
      the same exposure on the native grid.
    * Gaia XP (view ``xp``): the rest-frame model at R = 250 (5x XP's best) on a log grid 3200-10600 A, convolved
      with a wavelength-dependent Gaussian LSF (FWHM 6 -> 40 nm across BP 330-680 nm, 15 -> 30 nm
      across RP 640-1050 nm, blended at 640 nm; approximate, from the published dispersion curves),
      sampled at 336-1020 nm / 2 nm; RV is ignored (<0.07% of lambda). Noise: correlated (white noise
      smoothed over ~2 samples) with a wavelength profile matched to the median error profile of the
      real Gaia XP + APOGEE file (large at the BP blue end and the RP red end), scaled by ``snr_xp``;
      normalised by the median (as the real file) or at 550 nm (SpecCLIP).

Known simplifications: no radiative transfer (one-layer LTE line strengths), no rotation, no
non-LTE, H- opacity independent of wavelength, no sky-line residuals, XP without its Hermite-basis
artefacts. The book page ``data_spectra`` measures how far this is from real spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.ndimage import convolve1d
from scipy.special import erfc, voigt_profile

from astrorepro.data.grids import C_KMS, LAMOST_COEFF0, LAMOST_COEFF1, LAMOST_NPIX, XP_WAVE_NM, get_grid
from astrorepro.data.linelist import (ELEMENT_DATA, ELEMENTS, atomic_lines, hydrogen_lines, molecular_bands,
                                      pseudo_lines)
from astrorepro.data.spectra import Spectra

XFE_NAMES = tuple(f"{x.lower()}_fe" for x in ELEMENTS)
#: All label columns the simulator records, in a fixed order.
LABEL_NAMES = ("teff", "logg", "feh", "alpha_fe", "rv", "ebprp", "snr", "snr_xp") + XFE_NAMES
#: The stellar-parameter labels of Spectra-as-Language stage 1.
BASIC_LABELS = ("teff", "logg", "feh")
VIEWS = ("lamost", "specclip", "wide", "xp")

_R_V = 3.1
_EBPRP_PER_EBV = 1.339
_STRONG = {("Ca", 2), ("Na", 1), ("K", 1)}          # damped-line set (plus Mg b and Ca I 4227 below)
_GAMMA_BASIS = np.array([0.4, 1.2, 3.6, 10.8])       # Lorentz HWHM basis of the wing components [A]
_CHUNK = 1024


# ============================================================================ labels
def sample_labels(n: int, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    """Draw ``n`` correlated stellar label sets (see the module docstring for every law).

    Returns a dict of float32 arrays keyed by :data:`LABEL_NAMES` plus ``stage`` (0 MS, 1 subgiant,
    2 RGB, 3 red clump) and ``population`` (0 thin, 1 thick, 2 halo) as int8.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    pop = rng.choice(3, size=n, p=[0.75, 0.18, 0.07])
    mu = np.array([-0.05, -0.55, -1.5])[pop]
    sd = np.array([0.22, 0.25, 0.45])[pop]
    feh = np.clip(rng.normal(mu, sd), -2.5, 0.5)
    alpha_hi = np.where(feh < -0.8, 0.30, 0.30 - 0.18 * (feh + 0.8) / 0.8)
    alpha = np.where(pop == 0, 0.02 - 0.10 * feh, alpha_hi)
    alpha = np.where((pop == 2) & (rng.random(n) < 0.25), 0.10, alpha)
    alpha = np.clip(alpha + rng.normal(0, 0.03, n), -0.2, 0.5)

    stage = rng.choice(4, size=n, p=[0.55, 0.08, 0.25, 0.12])
    t_to = 5900.0 - 250.0 * feh + 300.0
    # main sequence: Teff from a skewed distribution, old populations stop at their turn-off
    t_ms = 3500.0 + 4500.0 * rng.beta(1.6, 2.2, n)
    t_ms = np.where(pop > 0, np.minimum(t_ms, t_to), t_ms)
    g_ms = 4.45 + 0.35 * (5777.0 - t_ms) / 2300.0 - 0.3 * rng.random(n) * (t_ms > 5000)
    # subgiants
    g_sg = rng.uniform(3.5, 4.1, n)
    t_sg = t_to - 300.0 - (4.1 - g_sg) / 0.6 * 900.0 + rng.normal(0, 80, n)
    # red-giant branch, denser at high log g
    g_rgb = 3.5 - 3.0 * rng.beta(1.3, 1.8, n)
    t_rgb = 4700.0 + 330.0 * (g_rgb - 2.5) - 180.0 * feh + rng.normal(0, 60, n)
    # red clump
    g_rc = rng.normal(2.45, 0.12, n)
    t_rc = 4720.0 - 250.0 * feh + rng.normal(0, 70, n)
    teff = np.choose(stage, [t_ms, t_sg, t_rgb, t_rc])
    logg = np.choose(stage, [g_ms, g_sg, g_rgb, g_rc]) + rng.normal(0, 0.05, n)
    teff = np.clip(teff, 3500.0, 8000.0)
    logg = np.clip(logg, 0.5, 5.0)

    giant = stage >= 2
    mix = np.where(giant, 0.1 + 0.1 * np.clip(3.5 - logg, 0, 3), 0.0)
    z = lambda s: rng.normal(0, s, n)  # noqa: E731
    xfe = {
        "C": 0.1 * alpha - 0.05 - mix + z(0.06), "N": 0.05 + 2.0 * mix + z(0.08), "O": 1.1 * alpha + z(0.05),
        "Na": 0.3 * alpha + 0.2 * mix + z(0.06), "Mg": 1.0 * alpha + z(0.03), "Al": 0.6 * alpha + z(0.06),
        "Si": 0.8 * alpha + z(0.04), "S": 0.9 * alpha + z(0.06), "K": 0.4 * alpha + z(0.06),
        "Ca": 0.7 * alpha + z(0.04), "Ti": 0.6 * alpha + z(0.05), "V": 0.3 * alpha + z(0.06),
        "Cr": -0.02 + z(0.03), "Mn": 0.15 * feh - 0.5 * alpha + z(0.04), "Co": 0.2 * alpha + z(0.05),
        "Ni": 0.1 * alpha + 0.03 * feh + z(0.03), "Cu": 0.25 * feh - 0.3 * alpha + z(0.06),
        "Zn": 0.3 * alpha + z(0.06), "Sr": 0.05 + z(0.12), "Ba": 0.1 - 0.5 * alpha + z(0.12),
    }
    rv_sd = np.array([25.0, 50.0, 110.0])[pop]
    rv_mu = np.array([-5.0, -10.0, 0.0])[pop]
    snr = np.clip(10 ** rng.normal(np.log10(40.0), 0.35, n), 5.0, 200.0)
    snr_xp = np.clip(10 ** (2.0 + 0.6 * (np.log10(snr) - np.log10(40.0)) + rng.normal(0, 0.2, n)), 5.0, 1000.0)
    out = {"teff": teff, "logg": logg, "feh": feh, "alpha_fe": alpha,
           "rv": np.clip(rng.normal(rv_mu, rv_sd), -200.0, 200.0),
           "ebprp": np.clip(rng.exponential(0.2, n), 0.0, 1.0), "snr": snr, "snr_xp": snr_xp}
    for el, name in zip(ELEMENTS, XFE_NAMES):
        out[name] = np.clip(xfe[el], -0.6, 0.8)
    out = {k: np.asarray(v, np.float32) for k, v in out.items()}
    out["stage"] = stage.astype(np.int8)
    out["population"] = pop.astype(np.int8)
    return out


def complete_labels(labels: dict, n: int | None = None) -> dict[str, np.ndarray]:
    """Fill missing label columns with defaults ([X/Fe] = [alpha/Fe] for alpha elements else 0, RV 0,
    E(BP-RP) 0, S/N 100 / 300) so a caller can give only Teff, log g, [Fe/H].

    Raises:
        ValueError: when teff, logg or feh is missing or when the lengths differ.
    """
    missing = [k for k in BASIC_LABELS if k not in labels]
    if missing:
        raise ValueError(f"labels need at least {BASIC_LABELS}; missing {missing}")
    lab = {k: np.atleast_1d(np.asarray(v, np.float32)) for k, v in labels.items()}
    n = len(lab["teff"]) if n is None else n
    for k, v in lab.items():
        if len(v) != n:
            raise ValueError(f"label {k!r} has length {len(v)}, expected {n}")
    alpha = lab.setdefault("alpha_fe", np.zeros(n, np.float32))
    defaults = {"rv": 0.0, "ebprp": 0.0, "snr": 100.0, "snr_xp": 300.0}
    for k, v in defaults.items():
        lab.setdefault(k, np.full(n, v, np.float32))
    for el, name in zip(ELEMENTS, XFE_NAMES):
        lab.setdefault(name, alpha.copy() if el in ("O", "Mg", "Si", "S", "Ca", "Ti") else np.zeros(n, np.float32))
    bad = [k for k in ("teff", "logg", "feh") if not np.all(np.isfinite(lab[k]))]
    if bad:
        raise ValueError(f"labels {bad} contain non-finite values")
    return lab


def label_matrix(labels: dict, names=BASIC_LABELS) -> np.ndarray:
    """(N, len(names)) float32 array of the named label columns."""
    return np.stack([np.asarray(labels[k], np.float32) for k in names], axis=1)


def lasp_like_labels(labels: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """"Pipeline-like" labels for Spectra-as-Language stage 1: truth + S/N-dependent noise + offsets.

    A documented guess at LASP-like errors (not measured): Teff +30 K offset, sigma = sqrt(80^2 +
    (2000/snr)^2) K; log g +0.05 (+0.1 for giants), sigma = sqrt(0.10^2 + (3/snr)^2); [Fe/H] -0.03, metal-
    poor stars pulled up by 0.15 x (-1 - [Fe/H]) below -1, sigma = sqrt(0.06^2 + (2/snr)^2).
    """
    lab = complete_labels(labels)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1729]))
    snr = np.maximum(lab["snr"], 1.0)
    n = len(snr)
    teff = lab["teff"] + 30 + rng.normal(0, 1, n) * np.sqrt(80 ** 2 + (2000 / snr) ** 2)
    logg = lab["logg"] + 0.05 + 0.05 * (lab["logg"] < 3.6) + rng.normal(0, 1, n) * np.sqrt(0.1 ** 2 + (3 / snr) ** 2)
    feh = (lab["feh"] - 0.03 + 0.15 * np.maximum(-1 - lab["feh"], 0)
           + rng.normal(0, 1, n) * np.sqrt(0.06 ** 2 + (2 / snr) ** 2))
    return {"teff": teff.astype(np.float32), "logg": logg.astype(np.float32), "feh": feh.astype(np.float32)}


#: APOGEE-like 1-sigma label errors (a documented choice: typical ASPCAP DR16/17 uncertainties)
APOGEE_SIGMA = {"teff": 40.0, "logg": 0.05, "feh": 0.02, "alpha_fe": 0.02, **{n: 0.03 for n in XFE_NAMES},
                **{f"{e.lower()}_fe": 0.07 for e in ("Na", "S", "K", "V", "Co", "Cu", "Zn", "Sr", "Ba")}}


def apogee_like_labels(labels: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """"High-resolution" labels: truth + small unbiased Gaussian noise (:data:`APOGEE_SIGMA`)."""
    lab = complete_labels(labels)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31337]))
    return {k: (lab[k] + rng.normal(0, s, len(lab[k]))).astype(np.float32) for k, s in APOGEE_SIGMA.items()}


# ============================================================================ physics
@lru_cache(maxsize=None)
def _cog_table():
    """Exact Voigt curve of growth W / Delta lambda_D = int (1 - exp(-tau0 H(a, x))) dx on a grid."""
    log_tau = np.arange(-4.0, 9.01, 0.1)
    log_a = np.arange(-3.5, 0.01, 0.25)
    x = np.concatenate([np.linspace(0, 6, 601), np.geomspace(6.02, 3e4, 600)])
    dx = np.gradient(x)
    H = np.sqrt(np.pi) * voigt_profile(x[None, :], 1 / np.sqrt(2), 10 ** log_a[:, None])  # (n_a, n_x)
    table = np.empty((log_tau.size, log_a.size))
    for i, lt in enumerate(log_tau):
        table[i] = 2 * np.sum(-np.expm1(-(10 ** lt) * H) * dx, axis=1)
    return log_tau, log_a, np.log10(table)


def curve_of_growth(log_tau0: np.ndarray, log_a: np.ndarray) -> np.ndarray:
    """W / Delta lambda_D from the tabulated Voigt curve of growth (bilinear in log tau0, log a)."""
    lt, la, tab = _cog_table()
    x = np.clip((log_tau0 - lt[0]) / (lt[1] - lt[0]), 0, lt.size - 1.001)
    y = np.clip((log_a - la[0]) / (la[1] - la[0]), 0, la.size - 1.001)
    i, j = x.astype(np.int32), y.astype(np.int32)
    fx, fy = x - i, y - j
    v = ((1 - fx) * (1 - fy) * tab[i, j] + fx * (1 - fy) * tab[i + 1, j] + (1 - fx) * fy * tab[i, j + 1]
         + fx * fy * tab[i + 1, j + 1])
    # below the table the curve is linear: W/dl = sqrt(pi) tau0
    v = np.where(log_tau0 < lt[0], np.log10(np.sqrt(np.pi)) + log_tau0, v)
    return 10 ** v


def electron_pressure(teff, logg, m_h):
    """log10 P_e [dyn cm^-2] near tau ~ 1 (fit-by-eye law, module docstring)."""
    return 1.2 + 0.55 * (logg - 4.44) + 1.8 * np.tanh((teff - 5777.0) / 2250.0) + 0.3 * m_h


def _xh(lab: dict, elements: np.ndarray) -> np.ndarray:
    """[X/H] (N, n_lines) for the element of each line ([Fe/H] + [X/Fe]; Fe itself: [Fe/H])."""
    feh = lab["feh"][:, None]
    out = np.repeat(feh, len(elements), axis=1).astype(np.float64)
    for el in np.unique(elements):
        if el == "Fe" or el == "H":
            continue
        out[:, elements == el] += lab[f"{el.lower()}_fe"][:, None]
    return out


def line_ew(lab: dict, element, ion, wave, chi, loggf, damping, c0: float | None = None,
            split: bool = False):
    """Equivalent widths [A] (N, n_lines) of atomic lines for the stars in ``lab`` (module docstring).

    With ``split`` also returns the pure-Doppler (core) part of each EW.
    """
    c0 = _c0() if c0 is None else c0
    T = lab["teff"].astype(np.float64)[:, None]
    g = lab["logg"].astype(np.float64)[:, None]
    m_h = (lab["feh"] + 0.7 * lab["alpha_fe"]).astype(np.float64)[:, None]
    theta = 5040.0 / T
    log_pe = electron_pressure(T, g, m_h)
    ion_e = np.array([ELEMENT_DATA[e][0] for e in element])[None, :]
    abund = np.array([ELEMENT_DATA[e][1] for e in element])[None, :]
    mass = np.array([ELEMENT_DATA[e][2] for e in element])[None, :]
    log_r = 2.5 * np.log10(T) - theta * ion_e - 0.1762 - log_pe          # log N_II / N_I
    log_f = np.where(np.asarray(ion)[None, :] == 1, -np.logaddexp(0, log_r * np.log(10)) / np.log(10),
                     log_r - np.logaddexp(0, log_r * np.log(10)) / np.log(10))
    log_kappa = log_pe + 2.5 * np.log10(theta) + 0.754 * theta
    xi = np.clip(1.0 + 0.35 * (4.44 - g), 0.6, 3.0)
    v_d = np.sqrt((0.1285 ** 2) * T / mass + xi ** 2)                    # km/s
    log_tau0 = (np.asarray(loggf)[None, :] + abund - 12.0 + _xh(lab, np.asarray(element)) - theta * np.asarray(chi)[None, :]
                + log_f - log_kappa + np.log10(np.asarray(wave)[None, :] / 5000.0) - np.log10(v_d / 2.0) + c0)
    log_a = np.log10(np.asarray(damping)[None, :]) + 0.3 * (g - 4.44) + np.log10(2.0 / v_d)
    dl_d = np.asarray(wave)[None, :] * v_d / C_KMS
    ew = dl_d * curve_of_growth(log_tau0, log_a)
    if split:
        core = dl_d * curve_of_growth(log_tau0, np.full_like(log_a, -3.5))
        return ew, np.minimum(core, ew)
    return ew


@lru_cache(maxsize=None)
def _c0() -> float:
    """Calibrate C0 so that the solar Fe I 5232.94 A line has EW = 0.346 A (bisection)."""
    sun = complete_labels({"teff": [5777.0], "logg": [4.44], "feh": [0.0]})
    wave = atomic_lines().wave[np.argmin(np.abs(atomic_lines().wave - 5234.4))]
    lo, hi = -10.0, 20.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        ew = line_ew(sun, np.array(["Fe"]), np.array([1]), np.array([wave]), np.array([2.94]),
                     np.array([-0.06]), np.array([0.01]), c0=mid)[0, 0]
        lo, hi = (mid, hi) if ew < 0.346 else (lo, mid)
    return 0.5 * (lo + hi)


def hydrogen_ew(lab: dict) -> np.ndarray:
    """EWs [A] (N, n_H) of the Balmer and Paschen lines (module docstring)."""
    H = hydrogen_lines()
    T = lab["teff"].astype(np.float64)[:, None]
    g = lab["logg"].astype(np.float64)[:, None]
    theta = 5040.0 / T
    s = 1 / (1 + np.exp(-(T - 6500.0) / 500.0))
    w_ha = BALMER_PEAK_EW * 10 ** (-3.6 * np.abs(theta - 0.56) ** 1.3) * 10 ** (0.15 * s * (g - 4.0))
    gate = np.where(H.series[None, :] == "paschen", 1 / (1 + np.exp(-(T - 6500.0) / 600.0)), 1.0)
    return w_ha * H.strength[None, :] * gate


def molecular_depth(lab: dict) -> np.ndarray:
    """Peak pseudo-optical depths (N, n_bands) of the molecular bands (module docstring)."""
    M = molecular_bands()
    T = lab["teff"].astype(np.float64)[:, None]
    g = lab["logg"].astype(np.float64)[:, None]
    theta = 5040.0 / T
    xa = _xh(lab, M.elem_a)
    xb = np.where(M.elem_b[None, :] == "-", 0.0, _xh(lab, np.where(M.elem_b == "-", "Fe", M.elem_b)))
    log_tau = (np.log10(M.tau_ref)[None, :] + xa + xb + M.energy[None, :] * (theta - 5040.0 / M.teff_ref[None, :])
               + M.gravity_exp[None, :] * (g - M.logg_ref[None, :]))
    return np.minimum(10 ** log_tau, 5.0)


def log_continuum(lab: dict, wave: np.ndarray) -> np.ndarray:
    """ln of Planck x CCM89 extinction x Balmer jump, (N, n_pix) float32, arbitrary zero point."""
    lam = np.asarray(wave, np.float64)
    inv_t = (1.0 / lab["teff"].astype(np.float32))[:, None]
    x = inv_t * (1.4388e8 / lam).astype(np.float32)[None, :]
    out = (-5.0 * np.log(lam / 5000.0)).astype(np.float32)[None, :] - x - np.log1p(-np.exp(-x))
    theta = 5040.0 / lab["teff"].astype(np.float64)
    d = 0.45 * np.exp(-(((theta - 0.55) / 0.22) ** 2))                   # Balmer jump [dex]
    step = (np.log(10) / (1 + np.exp((lam - 3646.0) / 15.0)))
    if np.any(step > 1e-8):
        out -= (d[:, None] * step[None, :]).astype(np.float32)
    a_v = _R_V * lab["ebprp"].astype(np.float64) / _EBPRP_PER_EBV
    out -= (a_v[:, None] * (0.4 * np.log(10) * ccm89(lam))[None, :]).astype(np.float32)
    return out


def continuum(lab: dict, wave: np.ndarray) -> np.ndarray:
    """Planck x CCM89 extinction x Balmer jump, (N, n_pix) float32, arbitrary units."""
    return np.exp(log_continuum(lab, wave))


def ccm89(wave: np.ndarray, r_v: float = _R_V) -> np.ndarray:
    """A_lambda / A_V of Cardelli, Clayton & Mathis (1989) for 0.3 <= x <= 3.3 um^-1 (wave in A)."""
    x = 1e4 / np.asarray(wave, np.float64)
    if np.any((x < 0.3) | (x > 3.3)):
        raise ValueError("ccm89 covers 3030-33000 A only")
    a = np.where(x < 1.1, 0.574 * x ** 1.61, 0.0)
    b = np.where(x < 1.1, -0.527 * x ** 1.61, 0.0)
    y = x - 1.82
    pa = [1, 0.17699, -0.50447, -0.02427, 0.72085, 0.01979, -0.77530, 0.32999]
    pb = [0, 1.41338, 2.28305, 1.07233, -5.38434, -0.62251, 5.30260, -2.09002]
    opt = x >= 1.1
    a = np.where(opt, np.polynomial.polynomial.polyval(y, pa), a)
    b = np.where(opt, np.polynomial.polynomial.polyval(y, pb), b)
    return a + b / r_v


# ============================================================================ profile matrices
@dataclass(frozen=True)
class _Model:
    """Precomputed profile matrix on one rest-frame grid: opacity = weights @ P."""

    log_wave: np.ndarray    # (n_fine,) log10 wavelength of the rest-frame grid
    wave: np.ndarray        # (n_fine,)
    P: np.ndarray           # (n_components, n_fine) float32
    n_plain: int            # atomic lines with a single Gaussian column
    plain_idx: np.ndarray   # indices into atomic_lines() of those lines
    damped_idx: np.ndarray  # indices of damped lines (5 columns each: core + 4 wing widths)
    groups: tuple           # pseudo-line classes: (element, ion, chi, loggf) per column

    def opacity(self, W: np.ndarray) -> np.ndarray:
        """``W @ P`` (N, n_fine): one dense float32 matmul (faster here than sparse or blocked
        products, measured)."""
        return W @ self.P


def _damped_mask() -> np.ndarray:
    L = atomic_lines()
    strong = np.array([(e, i) in _STRONG for e, i in zip(L.element, L.ion)])
    mgb = (L.element == "Mg") & (np.abs(L.wave - 5177) < 12)
    ca4227 = (L.element == "Ca") & (L.ion == 1) & (np.abs(L.wave - 4228) < 1)
    return (strong & (L.chi < 2.0)) | mgb | ca4227


def _band_profile(wave: np.ndarray, head: float, tail: float, sigma: np.ndarray) -> np.ndarray:
    """Exponential band tail from ``head`` (red if tail > 0) convolved with a Gaussian (unit peak)."""
    x = (wave - head) * np.sign(tail)
    k = 1.0 / abs(tail)
    arg = np.minimum(k * k * sigma ** 2 / 2 - k * x, 700.0)
    prof = 0.5 * np.exp(arg) * erfc((k * sigma ** 2 - x) / (np.sqrt(2) * sigma))
    return prof / max(prof.max(), 1e-30)


def _build_model(log_wave: np.ndarray, resolution: float) -> _Model:
    wave = 10 ** log_wave
    sig_of = lambda w0: w0 / (resolution * 2.3548)  # noqa: E731
    L = atomic_lines()
    damped = _damped_mask()
    inside = (L.wave > wave[0] - 50) & (L.wave < wave[-1] + 50)
    plain_idx = np.flatnonzero(~damped & inside)
    damped_idx = np.flatnonzero(damped & inside)
    cols = []

    def gauss(w0):
        s = sig_of(w0)
        return np.exp(-0.5 * ((wave - w0) / s) ** 2) / (np.sqrt(2 * np.pi) * s)

    def area(p):  # profiles are analytically unit-area; lines beyond the grid edge are cut, not renormalised
        return p

    for i in plain_idx:
        cols.append(area(gauss(L.wave[i])))
    for i in damped_idx:
        cols.append(area(gauss(L.wave[i])))
        for gam in _GAMMA_BASIS:
            cols.append(area(voigt_profile(wave - L.wave[i], sig_of(L.wave[i]), gam)))
    H = hydrogen_lines()
    for w0 in H.wave:
        cols.append(area(gauss(w0)))
        for gam in _GAMMA_BASIS:
            cols.append(area(voigt_profile(wave - w0, sig_of(w0), gam)))
    F = pseudo_lines()
    keys = list(zip(F.element, F.ion, F.chi, F.loggf))
    groups = sorted(set(keys))
    key_idx = {k: i for i, k in enumerate(groups)}
    G = np.zeros((len(groups), wave.size))
    sel = np.flatnonzero((F.wave > wave[0]) & (F.wave < wave[-1]))
    for i in sel:  # each line only touches +-6 sigma
        s = sig_of(F.wave[i])
        lo, hi = np.searchsorted(wave, [F.wave[i] - 6 * s, F.wave[i] + 6 * s])
        seg = wave[lo:hi]
        G[key_idx[keys[i]], lo:hi] += np.exp(-0.5 * ((seg - F.wave[i]) / s) ** 2) / (np.sqrt(2 * np.pi) * s)
    cols.extend(G)
    M = molecular_bands()
    for head, tail in zip(M.head, M.tail):
        cols.append(_band_profile(wave, head, tail, sig_of(head)))
    P = np.asarray(cols, dtype=np.float32)
    return _Model(log_wave, wave, P, len(plain_idx), plain_idx, damped_idx, tuple(groups))


_PAD = 12  # native pixels of padding on each side of the LAMOST grid (covers |RV| up to ~800 km/s)


@lru_cache(maxsize=None)
def _lrs_model() -> _Model:
    """Rest-frame model on the LAMOST log grid, padded by ``_PAD`` pixels on each side."""
    log_wave = LAMOST_COEFF0 + LAMOST_COEFF1 * np.arange(-_PAD, LAMOST_NPIX + _PAD)
    return _build_model(log_wave, 1800.0)


_XP_DLOG = 8e-4


@lru_cache(maxsize=None)
def _xp_model() -> tuple[_Model, np.ndarray]:
    """Rest-frame model at R = 250 on 3200-10600 A, and the (n_fine, 343) XP LSF matrix."""
    log_wave = np.arange(np.log10(3200.0), np.log10(10600.0), _XP_DLOG)
    model = _build_model(log_wave, 250.0)
    lam_nm = model.wave / 10.0
    sig = xp_lsf_fwhm_nm() / 2.3548
    dl = np.gradient(lam_nm)
    K = np.exp(-0.5 * ((lam_nm[:, None] - XP_WAVE_NM[None, :]) / sig[None, :]) ** 2) * dl[:, None]
    K /= K.sum(0, keepdims=True)
    return model, K.astype(np.float32)


def xp_lsf_fwhm_nm() -> np.ndarray:
    """The simulator's XP line-spread FWHM [nm] at each of the 343 sample points."""
    w_bp = 1 / (1 + np.exp((XP_WAVE_NM - 640.0) / 20.0))
    return w_bp * (6.0 + 34.0 * np.clip((XP_WAVE_NM - 330.0) / 350.0, 0, None)) + (1 - w_bp) * (
        15.0 + 15.0 * np.clip((XP_WAVE_NM - 640.0) / 410.0, 0, None))


@dataclass(frozen=True)
class _Features:
    """Per-star line strengths, computed once and shared by every view."""

    atomic_ew: np.ndarray   # (N, n_atomic) EW [A] of every real atomic line
    atomic_core: np.ndarray  # (N, n_atomic) pure-Doppler part of it
    hydrogen: np.ndarray    # (N, n_H) EW [A]
    groups: np.ndarray      # (N, n_groups) EW [A] of one line of each pseudo-line class
    molecules: np.ndarray   # (N, n_bands) peak depth


@lru_cache(maxsize=None)
def _pseudo_groups() -> tuple:
    F = pseudo_lines()
    return tuple(sorted(set(zip(F.element, F.ion, F.chi, F.loggf))))


#: H-alpha EW at the Balmer maximum [A] and Lorentz HWHM of the wings per A of EW
BALMER_PEAK_EW = 25.0
BALMER_WING_WIDTH = 0.4
#: global log gf offsets of the real lines and of the pseudo-line forest (tuned, see the module docstring)
LINE_GF_OFFSET = 0.0
PSEUDO_GF_OFFSET = -2.0


def _features(lab: dict) -> _Features:
    L = atomic_lines()
    ew, core = line_ew(lab, L.element, L.ion, L.wave, L.chi, L.loggf + LINE_GF_OFFSET, L.damping, split=True)
    el, ion, chi, gf = (np.array(v) for v in zip(*_pseudo_groups()))
    # pseudo-line classes are evaluated at 5000 A (their lambda-dependence is ignored)
    grp = line_ew(lab, el, ion.astype(int), np.full(len(el), 5000.0), chi.astype(float),
                  gf.astype(float) + PSEUDO_GF_OFFSET,
                  np.full(len(el), 0.01))
    return _Features(ew, core, hydrogen_ew(lab), grp, molecular_depth(lab))


def _weights(feat: _Features, model: _Model) -> np.ndarray:
    """(N, n_components) float32 weights for ``model.P`` (EWs in A, band depths)."""
    d = model.damped_idx
    W = np.concatenate([feat.atomic_ew[:, model.plain_idx],
                        _core_wing(feat.atomic_core[:, d], feat.atomic_ew[:, d] - feat.atomic_core[:, d]),
                        _core_wing(0.2 * feat.hydrogen, 0.8 * feat.hydrogen, width=BALMER_WING_WIDTH),
                        feat.groups, feat.molecules], axis=1).astype(np.float32)
    assert W.shape[1] == model.P.shape[0], (W.shape, model.P.shape)
    return W


def _core_wing(core: np.ndarray, wing: np.ndarray, width: float = 0.3) -> np.ndarray:
    """Per line 5 weights: [core, wing split over the 4 Lorentz widths by log interpolation]."""
    gam = np.clip(width * wing, _GAMMA_BASIS[0], _GAMMA_BASIS[-1])
    lg = np.log(gam) - np.log(_GAMMA_BASIS[0])
    step = np.log(_GAMMA_BASIS[1] / _GAMMA_BASIS[0])
    k = np.clip((lg / step).astype(int), 0, len(_GAMMA_BASIS) - 2)
    t = lg / step - k
    out = np.zeros(core.shape + (5,))
    out[..., 0] = core
    np.put_along_axis(out, (k + 1)[..., None], ((1 - t) * wing)[..., None], axis=-1)
    rest = np.take_along_axis(out, (k + 2)[..., None], axis=-1)[..., 0] + t * wing
    np.put_along_axis(out, (k + 2)[..., None], rest[..., None], axis=-1)
    return out.reshape(core.shape[0], -1)


# ============================================================================ instruments
def _throughput(wave: np.ndarray) -> np.ndarray:
    """Approximate LAMOST LRS total throughput shape (not a calibration)."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    t = 0.2 + 0.8 * sig((wave - 4000.0) / 150.0) * sig((8900.0 - wave) / 250.0)
    return t * (1 - 0.4 * np.exp(-(((wave - 5900.0) / 60.0) ** 2)))


@lru_cache(maxsize=None)
def _telluric(resolution: float = 1800.0) -> np.ndarray:
    """Observed-frame telluric transmission on the native LAMOST grid (O2 A, B; H2O bands)."""
    wave = get_grid("lamost").wave
    tau = np.zeros_like(wave)
    for lo, hi, depth in ((7594, 7621, 0.9), (6867, 6884, 0.35), (7186, 7273, 0.12), (8161, 8282, 0.10),
                          (8950, 9100, 0.25)):
        tau += depth * ((wave >= lo) & (wave <= hi))
    s = 5500.0 / (resolution * 2.3548) / (wave[1] - wave[0]) * 1.0
    k = np.exp(-0.5 * (np.arange(-8, 9) / max(s, 0.5)) ** 2)
    return np.exp(-np.convolve(tau, k / k.sum(), mode="same"))


def _xp_noise_profile() -> np.ndarray:
    """Relative XP error profile vs wavelength (shape of the real file's median error profile)."""
    lam = XP_WAVE_NM
    bp = 0.6 + 5.4 * np.exp(-(lam - 336.0) / 60.0)
    rp = 0.75 + 0.45 * np.exp(-(lam - 645.0) / 40.0) + 4.2 * np.exp((lam - 1020.0) / 25.0)
    return np.where(lam < 645.0, bp, rp)


@lru_cache(maxsize=None)
def _lrs_basis():
    """Smooth basis on the LAMOST grid: 7 Legendre columns, Balmer-jump tail (per dex), CCM89
    (A_lambda/A_V), log telluric transmission; and the Legendre pseudo-inverse on every 8th pixel."""
    wave = get_grid("lamost").wave
    x = np.linspace(-1.0, 1.0, wave.size)
    leg = np.polynomial.legendre.legvander(x, 6)
    jump = np.log(10) / (1 + np.exp((wave - 3646.0) / 15.0))
    V = np.concatenate([leg, jump[:, None], ccm89(wave)[:, None], np.log(_telluric())[:, None]], axis=1)
    return V.T.astype(np.float32), np.linalg.pinv(leg[::8]), jump, ccm89(wave)


def _keys_weights(t: np.ndarray) -> np.ndarray:
    """Keys (a = -0.5) cubic-convolution weights for taps at -1, 0, 1, 2 and fractional offset t."""
    def k(x):
        x = np.abs(x)
        return np.where(x <= 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1,
                        np.where(x < 2, -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2, 0.0))
    return np.stack([k(t + 1), k(t), k(1 - t), k(2 - t)], axis=-1).astype(np.float32)


def _lamost_chunk(lab: dict, feat: _Features, rng: np.random.Generator, telluric: bool,
                  flux_calib_error: float, dead_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model = _lrs_model()
    n = len(lab["teff"])
    wave = get_grid("lamost").wave
    A = model.opacity(_weights(feat, model))                                  # (n, n_pix + 2 pad), rest frame
    # Doppler shift: observed pixel k sees rest log-wavelength log(lambda_k) - log10(1 + v/c), an
    # offset of ``shift`` pixels, the same for every pixel of a star (log-linear grid).
    shift = np.log10(1 + lab["rv"].astype(np.float64) / C_KMS) / LAMOST_COEFF1
    u = _PAD - shift
    j0 = np.floor(u).astype(np.int64)
    if np.any((j0 < 1) | (j0 > 2 * _PAD - 2)):
        raise ValueError(f"|rv| too large for the simulator (max ~{(_PAD - 2) * LAMOST_COEFF1 * np.log(10) * C_KMS:.0f} km/s)")
    wk = _keys_weights(u - j0)                                            # (n, 4)
    win = np.lib.stride_tricks.sliding_window_view(A, LAMOST_NPIX, axis=1)  # (n, 2 pad + 1, n_pix) view
    rows = np.arange(n)
    a_obs = np.zeros((n, LAMOST_NPIX), np.float32)
    for tap in range(4):
        a_obs += wk[:, tap:tap + 1] * win[rows, j0 + tap - 1]
    # smooth log-continuum terms as one small matmul: Planck (Legendre order 6 in pixel, fitted on
    # every 8th pixel, error < 1e-6), CCM89, Balmer jump tail, telluric and flux-calibration terms
    V, pinv, _, _ = _lrs_basis()
    T_ = lab["teff"].astype(np.float64)[:, None]
    wc = wave[::8][None, :]
    xc = 1.4388e8 / (wc * T_)
    planck_c = -5.0 * np.log(wc / 5000.0) - xc - np.log1p(-np.exp(-xc))
    coef = np.zeros((n, V.shape[0]))
    coef[:, :7] = planck_c @ pinv.T
    theta = 5040.0 / lab["teff"].astype(np.float64)
    coef[:, 7] = -0.45 * np.exp(-(((theta - 0.55) / 0.22) ** 2))            # Balmer jump depth [dex]
    coef[:, 8] = -0.4 * np.log(10) * _R_V * lab["ebprp"].astype(np.float64) / _EBPRP_PER_EBV
    coef[:, 9] = 1.0 if telluric else 0.0
    if flux_calib_error > 0:
        coef[:, 1:4] += rng.normal(0, flux_calib_error / np.sqrt(3), (n, 3))
    logf = (coef.astype(np.float32) @ V)
    logf -= a_obs
    gband = slice(*np.searchsorted(wave, [4000.0, 5500.0]))
    logf -= logf[:, gband].max(axis=1, keepdims=True)
    flux = np.exp(logf)
    flux /= flux[:, gband].mean(axis=1, keepdims=True)
    T = _throughput(wave).astype(np.float32)[None, :]
    # Poisson-like: var ~ F / T, scaled to the g-band S/N (mean over 4000-5500 A); in place to save memory
    k2 = ((np.sqrt(flux[:, gband] * T[:, gband]).mean(axis=1) / lab["snr"]) ** 2).astype(np.float32)
    var = np.maximum(flux, 1e-6)
    var *= (1.0 / T)
    var *= k2[:, None]
    noisy = rng.standard_normal(flux.shape, dtype=np.float32)
    noisy *= np.sqrt(var)
    noisy += flux
    ivar = np.reciprocal(var, out=var)
    mask = np.zeros(flux.shape, bool)
    n_dead = rng.poisson(dead_fraction * LAMOST_NPIX, n)
    rows = np.repeat(np.arange(n), n_dead)
    mask[rows, rng.integers(0, LAMOST_NPIX, rows.size)] = True
    noisy[mask] = 0.0
    ivar[mask] = 0.0
    return noisy, ivar, mask


def _xp_chunk(lab: dict, feat: _Features, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    model, K = _xp_model()
    A = model.opacity(_weights(feat, model))
    sed = np.exp(log_continuum(lab, model.wave) - A)
    sed /= sed.max(axis=1, keepdims=True)
    flux = sed @ K                                                        # (n, 343)
    flux /= np.median(flux, axis=1, keepdims=True)
    prof = _xp_noise_profile().astype(np.float32)
    sigma = (prof[None, :] / lab["snr_xp"][:, None]).astype(np.float32)
    kern = np.exp(-0.5 * np.arange(-4, 5) ** 2).astype(np.float32)
    kern /= np.sqrt(np.sum(kern ** 2))                                    # unit variance after smoothing
    e = convolve1d(rng.standard_normal(flux.shape, dtype=np.float32), kern, axis=1, mode="reflect")
    return flux + sigma * e, 1.0 / sigma ** 2


# ============================================================================ public API
@dataclass(frozen=True)
class StarSample:
    """Simulated stars: their true labels and one :class:`Spectra` per instrument view."""

    labels: dict
    views: dict
    seed: int

    def __getitem__(self, view: str) -> Spectra:
        if view not in self.views:
            raise KeyError(f"view {view!r} was not simulated; have {sorted(self.views)}")
        return self.views[view]

    def __len__(self) -> int:
        return len(self.labels["teff"])


def simulate_spectra(labels: dict, seed: int = 0, views=("lamost", "xp"), xp_norm: str = "median",
                     telluric: bool = True, flux_calib_error: float = 0.03, dead_fraction: float = 1e-3,
                     chunk: int = _CHUNK) -> StarSample:
    """Spectra of given stars in the requested views (labels may hold only teff, logg, feh).

    Args:
        labels: dict of label arrays (see :func:`complete_labels` for defaults).
        seed: seeds the noise; the same seed gives identical arrays, and each view has its own random
            stream, so asking for more views never changes another view's noise.
        views: any of ``lamost`` (3904 px native grid), ``specclip`` (1462 px), ``wide`` (3800-8700 A),
            ``xp`` (343 samples).
        xp_norm: ``"median"`` (as the real Gaia XP + APOGEE file) or ``"550nm"`` (SpecCLIP).
        telluric, flux_calib_error, dead_fraction: LAMOST instrument effects (module docstring).
        chunk: stars per vectorised block (memory ~ 60 MB per 1024 stars).
    """
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; choose from {VIEWS}")
    if xp_norm not in ("median", "550nm"):
        raise ValueError(f"xp_norm must be 'median' or '550nm', got {xp_norm!r}")
    lab = complete_labels(labels)
    n = len(lab["teff"])
    if np.any((lab["teff"] < 2500) | (lab["teff"] > 12000)):
        raise ValueError("teff outside the simulator's range 2500-12000 K")
    ss = np.random.SeedSequence([int(seed), 271828])
    rng_lrs, rng_xp = (np.random.default_rng(s) for s in ss.spawn(2))
    ids = np.array([f"sim-{seed}-{i}" for i in range(n)])
    meta = {k: v for k, v in lab.items()}
    out = {}
    lrs_views = [v for v in views if v != "xp"]
    lrs_parts, xp_parts = [], []
    for s0 in range(0, n, chunk):
        sub = {k: v[s0:s0 + chunk] for k, v in lab.items()}
        feat = _features(sub)
        if lrs_views:
            lrs_parts.append(_lamost_chunk(sub, feat, rng_lrs, telluric, flux_calib_error, dead_fraction))
        if "xp" in views:
            xp_parts.append(_xp_chunk(sub, feat, rng_xp))
    if lrs_views:
        flux, ivar, mask = (np.concatenate(p) for p in zip(*lrs_parts))
        full = Spectra(get_grid("lamost").wave, flux, ivar, mask, ids, meta, grid="lamost", source="sim:lamost")
        for v in lrs_views:
            g = get_grid(v)
            out[v] = full.window(g.start, g.start + g.n_pix, grid=v, source=f"sim:{v}")
    if "xp" in views:
        flux, ivar = (np.concatenate(p) for p in zip(*xp_parts))
        g = get_grid("xp")
        xp = Spectra(g.wave, flux, ivar, np.zeros(flux.shape, bool), ids, meta, grid="xp", norm="median",
                     source="sim:xp")
        out["xp"] = xp if xp_norm == "median" else xp.normalise("550nm")
    return StarSample(lab, {v: out[v] for v in views}, int(seed))


def simulate_stars(n: int, seed: int = 0, views=("lamost", "xp"), **kw) -> StarSample:
    """Draw ``n`` stars (:func:`sample_labels`) and simulate their paired views (:func:`simulate_spectra`)."""
    ss = np.random.SeedSequence([int(seed), 161803])
    labels = sample_labels(n, np.random.default_rng(ss))
    return simulate_spectra(labels, seed=seed, views=views, **kw)


def noiseless_lamost(labels: dict, telluric: bool = False, view: str = "lamost") -> Spectra:
    """Noise-free LAMOST model spectra (no flux-calibration error, no dead pixels) in one LRS ``view``
    (``lamost``, ``specclip`` or ``wide``)."""
    if view == "xp":
        raise ValueError("noiseless_lamost makes LAMOST views; 'xp' is not one")
    lab = complete_labels(labels)
    lab["snr"] = np.full(len(lab["teff"]), 1e6, np.float32)
    s = simulate_spectra(lab, views=(view,), telluric=telluric, flux_calib_error=0.0, dead_fraction=0.0)
    return s[view]


def equivalent_width(spec: Spectra, center: float, half_width: float, cont_windows) -> np.ndarray:
    """Equivalent width [A] of a feature, measured on spectra against a straight pseudo-continuum.

    Args:
        center, half_width: integration window [center +- half_width] (Angstrom).
        cont_windows: [(lo, hi), (lo, hi)] continuum windows either side.
    """
    w = spec.wave
    f = spec.filled()
    pts, vals = [], []
    for lo, hi in cont_windows:
        sel = (w >= lo) & (w <= hi)
        if not sel.any():
            raise ValueError(f"continuum window {lo}-{hi} A is outside the grid")
        pts.append(w[sel].mean())
        vals.append(np.median(f[:, sel], axis=1))
    slope = (vals[1] - vals[0]) / (pts[1] - pts[0])
    sel = np.abs(w - center) <= half_width
    cont = vals[0][:, None] + slope[:, None] * (w[sel] - pts[0])[None, :]
    dw = np.gradient(w)[sel]
    return np.sum((1 - f[:, sel] / cont) * dw[None, :], axis=1)
