"""Simulated DECaLS-like fields with several galaxies and stars, and their boxes, for detection.

For the detection task of the Galaxy-LVM chapter (spec §1.7 item 7: 128x128 fields on CPU,
256x256 on GPU, 1-8 galaxies and stars with ground-truth boxes). The galaxies come from the same
generator as the stamps (:mod:`astrorepro.data.galaxies`), the stars are Moffat point sources;
one PSF and one noise level per field (drawn as for stamps), Gaussian sky noise, sky subtracted.

Modelling choices
    * Number of galaxies uniform in ``n_galaxies``; stars uniform in ``n_stars``; positions
      uniform over the field (objects may be cut by the edge, as in survey images; boxes are
      clipped to the field and objects whose centre falls outside are never drawn).
    * Galaxy classes uniform over the ten Galaxy10 classes (4-class labels via the mapping).
    * Stars: r magnitude uniform in ``star_mag_range`` (16-21), colours g-r ~ U(0.3, 1.4),
      r-z = 0.6 (g-r) - 0.1 (a rough main-sequence locus).
    * Galaxy box: the bounding box of the ellipse at ``box_re`` (2) effective radii of the main
      component (grown by the PSF FWHM); for mergers the union with the companion's ellipse.
      Star box: a square of half-size ``max(1.5 FWHM, 3 px)``. Boxes are ``(x0, y0, x1, y1)``
      in pixel coordinates (pixel centres are integers; a pixel covers [i-0.5, i+0.5]).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .galaxies import (DECALS_BANDS, GalaxySimConfig, draw_observing, galaxy_params,
                       render_galaxies)
from .sersic import moffat_alpha

__all__ = ["FieldSample", "simulate_fields", "FIELD_CLASSES"]

FIELD_CLASSES: tuple[str, ...] = ("galaxy", "star")


@dataclass
class FieldSample:
    """Fields and their objects.

    Attributes:
        images: float32 (n, 3, S, S) nanomaggies in g, r, z.
        boxes: list (one per field) of float arrays (k, 4) = (x0, y0, x1, y1).
        labels: list of int arrays (k,): 0 galaxy, 1 star (:data:`FIELD_CLASSES`).
        objects: DataFrame, one row per object (field, kind, x, y, mag_r, galaxy10, lvm4, re_px,
            q, pa_deg, box columns).
        fields: DataFrame, one row per field (PSF FWHM and noise per band).
    """

    images: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]
    objects: pd.DataFrame
    fields: pd.DataFrame
    bands: tuple[str, ...] = DECALS_BANDS
    class_names: tuple[str, ...] = FIELD_CLASSES

    def __len__(self) -> int:
        return len(self.images)


def _ellipse_halfwidths(r: np.ndarray, q: np.ndarray, pa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(pa), np.sin(pa)
    hx = r * np.sqrt(c**2 + (q * s) ** 2)
    hy = r * np.sqrt(s**2 + (q * c) ** 2)
    return hx, hy


def simulate_fields(n: int, seed: int | np.random.Generator = 0, size: int = 128,
                    n_galaxies: tuple[int, int] = (1, 8), n_stars: tuple[int, int] = (0, 4),
                    star_mag_range: tuple[float, float] = (16.0, 21.0), box_re: float = 2.0,
                    config: GalaxySimConfig | None = None, stamp: int = 64) -> FieldSample:
    """Simulate n fields of ``size`` x ``size`` pixels with galaxies, stars and boxes.

    Args:
        n: number of fields.
        seed: int or numpy Generator.
        size: field size in pixels (0.262"/pixel).
        n_galaxies, n_stars: inclusive ranges of the numbers of objects per field.
        star_mag_range: r magnitudes of stars.
        box_re: galaxy boxes enclose the ellipse at this many effective radii.
        config: galaxy settings (magnitudes, sizes, seeing, noise); ``size`` there is ignored.
            Default ``GalaxySimConfig(size_scale=0.5)``: galaxies half the size of the stamp
            simulator's, so that several fit in a 128-pixel field.
        stamp: size of the postage stamp in which each galaxy is rendered before pasting.

    Returns:
        :class:`FieldSample`.
    """
    if n < 1 or size < 16:
        raise ValueError(f"need n >= 1 and size >= 16, got n={n}, size={size}")
    if n_galaxies[0] < 0 or n_galaxies[1] < n_galaxies[0] or n_stars[1] < n_stars[0]:
        raise ValueError(f"bad object-count ranges n_galaxies={n_galaxies}, n_stars={n_stars}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    gcfg = replace(config or GalaxySimConfig(size_scale=0.5), size=stamp, centre_jitter=0.0)
    obs = pd.DataFrame(draw_observing(n, rng, gcfg))
    fwhm = obs[[f"psf_fwhm_{b}" for b in DECALS_BANDS]].to_numpy()
    sig = obs[[f"sigma_{b}" for b in DECALS_BANDS]].to_numpy().astype(np.float32)
    ng = rng.integers(n_galaxies[0], n_galaxies[1] + 1, n)
    ns = rng.integers(n_stars[0], n_stars[1] + 1, n)
    field_of = np.repeat(np.arange(n), ng)
    G = len(field_of)
    # galaxy positions: integer part picks the paste offset, fraction goes into the stamp centre
    gx = rng.uniform(0, size - 1, G)
    gy = rng.uniform(0, size - 1, G)
    P = gcfg.pad
    c0 = (stamp - 1) // 2
    centres = np.stack([c0 + P + gx - np.floor(gx), c0 + P + gy - np.floor(gy)], 1)
    g10 = rng.integers(0, 10, G)
    comps, truth = galaxy_params(g10, rng, gcfg, centres=centres) if G else (None, pd.DataFrame())
    images = np.zeros((n, 3, size, size), np.float32)
    rows = []
    if G:
        cubes = render_galaxies(comps, truth, fwhm[field_of], gcfg)  # (G, 3, Sp, Sp)
        Sp = cubes.shape[-1]
        for k in range(G):
            f = field_of[k]
            ox, oy = int(np.floor(gx[k])) - c0 - P, int(np.floor(gy[k])) - c0 - P
            xa, ya = max(ox, 0), max(oy, 0)
            xb, yb = min(ox + Sp, size), min(oy + Sp, size)
            images[f, :, ya:yb, xa:xb] += cubes[k, :, ya - oy:yb - oy, xa - ox:xb - ox]
        t = truth
        x = t["x0"].to_numpy() - c0 + np.floor(gx)
        y = t["y0"].to_numpy() - c0 + np.floor(gy)
        pa = np.radians(t["pa_deg"].to_numpy())
        grow = fwhm[field_of, 1] / gcfg.pixel_scale
        hx, hy = _ellipse_halfwidths(box_re * t["re_px"].to_numpy(), t["q"].to_numpy(), pa)
        bx0, bx1, by0, by1 = x - hx - grow, x + hx + grow, y - hy - grow, y + hy + grow
        merg = t["galaxy10"].to_numpy() == 1
        if merg.any():  # union with the companion (assume a round companion of R_e sqrt(ratio))
            cx = x + t["companion_dx"].to_numpy()
            cy = y + t["companion_dy"].to_numpy()
            rc = box_re * t["re_px"].to_numpy() * np.sqrt(t["companion_flux_ratio"].to_numpy()) + grow
            bx0 = np.where(merg, np.minimum(bx0, cx - rc), bx0)
            bx1 = np.where(merg, np.maximum(bx1, cx + rc), bx1)
            by0 = np.where(merg, np.minimum(by0, cy - rc), by0)
            by1 = np.where(merg, np.maximum(by1, cy + rc), by1)
        rows.append(pd.DataFrame({
            "field": field_of, "kind": 0, "x": x, "y": y, "mag_r": t["mag_r"], "galaxy10": g10,
            "lvm4": t["lvm4"], "re_px": t["re_px"], "q": t["q"], "pa_deg": t["pa_deg"],
            "box_x0": bx0, "box_y0": by0, "box_x1": bx1, "box_y1": by1}))
    # stars: Moffat point sources evaluated at pixel centres over the field (normalised)
    sf = np.repeat(np.arange(n), ns)
    S_ = len(sf)
    if S_:
        sx, sy = rng.uniform(0, size - 1, S_), rng.uniform(0, size - 1, S_)
        mag = rng.uniform(*star_mag_range, S_)
        gr = rng.uniform(0.3, 1.4, S_)
        rz = 0.6 * gr - 0.1
        fr = 10 ** (-0.4 * (mag - 22.5))
        flux = np.stack([fr * 10 ** (-0.4 * gr), fr, fr * 10 ** (0.4 * rz)], 1)
        ax = np.arange(size, dtype=np.float32)
        beta = gcfg.moffat_beta
        for b in range(3):
            a = moffat_alpha(fwhm[sf, b] / gcfg.pixel_scale, beta).astype(np.float32)
            r2 = (ax[None, None, :] - sx[:, None, None]) ** 2 + (ax[None, :, None] - sy[:, None, None]) ** 2
            prof = (1 + r2 / a[:, None, None] ** 2) ** np.float32(-beta)
            # analytic normalisation of a Moffat: 2D integral = pi alpha^2 / (beta - 1)
            prof *= ((beta - 1) / (np.pi * a**2) * flux[:, b])[:, None, None].astype(np.float32)
            np.add.at(images[:, b], sf, prof)
        h = np.maximum(1.5 * fwhm[sf, 1] / gcfg.pixel_scale, 3.0)
        rows.append(pd.DataFrame({
            "field": sf, "kind": 1, "x": sx, "y": sy, "mag_r": mag, "galaxy10": -1, "lvm4": -1,
            "re_px": 0.0, "q": 1.0, "pa_deg": 0.0, "box_x0": sx - h, "box_y0": sy - h,
            "box_x1": sx + h, "box_y1": sy + h}))
    objects = (pd.concat(rows, ignore_index=True) if rows else
               pd.DataFrame(columns=["field", "kind", "x", "y", "box_x0", "box_y0", "box_x1", "box_y1"]))
    for c in ("box_x0", "box_y0"):
        objects[c] = np.clip(objects[c].astype(float), -0.5, size - 0.5)
    for c in ("box_x1", "box_y1"):
        objects[c] = np.clip(objects[c].astype(float), -0.5, size - 0.5)
    objects = objects.sort_values(["field", "kind"], kind="stable").reset_index(drop=True)
    images += rng.standard_normal(images.shape, dtype=np.float32) * sig[:, :, None, None]
    boxes, labels = [], []
    grp = objects.groupby("field")
    for f in range(n):
        o = grp.get_group(f) if f in grp.groups else objects.iloc[:0]
        boxes.append(o[["box_x0", "box_y0", "box_x1", "box_y1"]].to_numpy(float))
        labels.append(o["kind"].to_numpy(int))
    return FieldSample(images=images, boxes=boxes, labels=labels, objects=objects, fields=obs)
