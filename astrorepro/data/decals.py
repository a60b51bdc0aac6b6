"""Real DECaLS galaxy images with Galaxy Zoo labels, the fixed ring split, and the RGB mapping.

The real sample (``<data_dir>/decals_rings_zoobot``, see its SOURCE.md) is 440 Galaxy Zoo
DECaLS subject images (DECaLS DR5 g, r, z colour composites, resized to 256x256 JPEG) with a
binary ring label (220 rings, 220 not). They are *colour composites*, not fluxes: the loader
returns them as float RGB in [0, 1] in a :class:`~astrorepro.data.galaxies.GalaxyImages`, the
object the simulator returns, with ``units="rgb"``.

Fixed split (DESIGN.md, "Data"): ids sorted as strings, every 4th taken (positions 0, 4, ...,
396) is the test set of 100 (must be 50 rings and 50 not; asserted), the other 340 the training
pool. All chapters use it so their numbers compare.

RGB mapping. To apply a model trained on simulated nanomaggy stamps to the real JPEGs, the
simulated stamps are put into RGB space with :func:`dr2_rgb`, our reimplementation of the asinh
colour mapping the Legacy Surveys viewer calls ``dr2_rgb`` (Lupton et al. 2004 style, as
described in the LVM spec §1.4): per band ``x_b = s_b F_b + m`` with scales s_g = 6.0,
s_r = 3.4, s_z = 2.2 and offset m = 0.03; the mean ``I = <max(x_b, 0)>`` over bands is
stretched by ``f(I) = asinh(Q I)/sqrt(Q)`` with Q = 20; each channel is ``x_b f(I)/I``, clipped
to [0, 1]; z goes to red, r to green, g to blue. Caveat (measured in the data page): Galaxy Zoo
DECaLS made its JPEGs with its own asinh mapping and a per-galaxy zoom (the pixel scale is set
from the galaxy's Petrosian radius, so real images are not 0.262"/pixel and galaxies fill the
frame); dr2_rgb is the LVM paper's mapping, not the one of the GZ JPEGs. :func:`gz_rgb`
reimplements the Galaxy Zoo DECaLS subject mapping (per-band asinh, described in its docstring),
which is the closer match to the real sample; the data page measures both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from .galaxies import GalaxyImages

__all__ = [
    "DR2_RGB_SCALES",
    "dr2_rgb",
    "GZ_RGB_SCALES",
    "gz_rgb",
    "resize_images",
    "RING_DIR",
    "RING_CATALOG",
    "RING_CLASSES",
    "load_ring_catalog",
    "ring_split",
    "load_decals_rings",
    "read_rgb_image",
    "simulate_gz_like",
    "rgb_statistics",
    "compare_statistics",
]

#: band -> (RGB plane, scale) of the dr2_rgb mapping (plane 0 = R)
DR2_RGB_SCALES = {"g": (2, 6.0), "r": (1, 3.4), "z": (0, 2.2)}
RING_DIR = "decals_rings_zoobot"
RING_CATALOG = "ring_catalog.csv"
RING_CLASSES: tuple[str, ...] = ("not ring", "ring")
_RING_COLUMNS = ("id_str", "ring", "file_loc")


def dr2_rgb(images: np.ndarray, bands: Sequence[str] = ("g", "r", "z"), Q: float = 20.0,
            m: float = 0.03, scales: dict[str, tuple[int, float]] | None = None) -> np.ndarray:
    """Asinh colour composite of nanomaggy images (see the module docstring for the formula).

    Args:
        images: (..., C, H, W) fluxes in nanomaggies, C = len(bands).
        bands: band of each input channel (subset of g, r, z).
        Q: asinh softening.
        m: additive offset applied after scaling.
        scales: override {band: (plane, scale)}.

    Returns:
        float32 (..., 3, H, W) RGB in [0, 1] (channel 0 = R).
    """
    sc = dict(DR2_RGB_SCALES, **(scales or {}))
    x = np.asarray(images, np.float32)
    if x.ndim < 3 or x.shape[-3] != len(bands):
        raise ValueError(f"images must be (..., {len(bands)}, H, W) for bands {tuple(bands)}, "
                         f"got {x.shape}")
    unknown = [b for b in bands if b not in sc]
    if unknown:
        raise ValueError(f"no dr2_rgb scale for bands {unknown}")
    scaled = [x[..., i, :, :] * np.float32(sc[b][1]) + np.float32(m) for i, b in enumerate(bands)]
    inten = sum(np.maximum(s, 0) for s in scaled) / len(bands)
    inten = inten + (inten == 0) * np.float32(1e-6)
    stretch = np.arcsinh(Q * inten) / np.sqrt(Q) / inten
    out = np.zeros(x.shape[:-3] + (3,) + x.shape[-2:], np.float32)
    for s, b in zip(scaled, bands):
        out[..., sc[b][0], :, :] = s * stretch
    return np.clip(out, 0.0, 1.0)


#: band -> (RGB plane, divisor) of the Galaxy Zoo DECaLS JPEG mapping
GZ_RGB_SCALES = {"g": (2, 0.008), "r": (1, 0.014), "z": (0, 0.019)}


def gz_rgb(images: np.ndarray, bands: Sequence[str] = ("g", "r", "z"),
           lo: float = -0.5, hi: float = 300.0,
           scales: dict[str, tuple[int, float]] | None = None) -> np.ndarray:
    """The asinh mapping of the Galaxy Zoo DECaLS subject images (our reimplementation).

    Each band is divided by its own scale (g 0.008, r 0.014, z 0.019 nanomaggies), stretched
    *per channel* with ``asinh``, and mapped linearly so that ``asinh(lo)`` is black and
    ``asinh(hi)`` white (lo = -0.5, hi = 300), then clipped to [0, 1]; z -> R, r -> G, g -> B.
    The GZ pipeline also "desaturates" pixels dominated by one colour; that step is left out
    here, so simulated sky noise is more colourful than in the real JPEGs. Because each channel
    is stretched on its own, colours depend on brightness (unlike :func:`dr2_rgb`).

    Args:
        images: (..., C, H, W) nanomaggies.
        bands: band of each channel.
        lo, hi: fluxes (in units of the scale) mapped to 0 and 1 after the asinh.
        scales: override {band: (plane, divisor)}.

    Returns:
        float32 (..., 3, H, W) in [0, 1].
    """
    sc = dict(GZ_RGB_SCALES, **(scales or {}))
    x = np.asarray(images, np.float32)
    if x.ndim < 3 or x.shape[-3] != len(bands):
        raise ValueError(f"images must be (..., {len(bands)}, H, W) for bands {tuple(bands)}, "
                         f"got {x.shape}")
    a0, a1 = np.arcsinh(lo), np.arcsinh(hi)
    out = np.zeros(x.shape[:-3] + (3,) + x.shape[-2:], np.float32)
    for i, b in enumerate(bands):
        if b not in sc:
            raise ValueError(f"no gz_rgb scale for band {b!r}")
        out[..., sc[b][0], :, :] = (np.arcsinh(x[..., i, :, :] / sc[b][1]) - a0) / (a1 - a0)
    return np.clip(out, 0.0, 1.0)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased resize of (n, C, H, W) images to (n, C, size, size).

    Block mean when H and W are integer multiples of ``size`` (what a flux-conserving rebin
    does, per pixel), otherwise PIL's Lanczos filter per channel, clipped to the input's range.
    """
    x = np.asarray(images, np.float32)
    n, C, H, W = x.shape
    if H % size == 0 and W % size == 0:
        return x.reshape(n, C, size, H // size, size, W // size).mean((3, 5))
    from PIL import Image

    out = np.empty((n, C, size, size), np.float32)
    for i in range(n):
        for c in range(C):
            out[i, c] = np.asarray(Image.fromarray(x[i, c], mode="F").resize(
                (size, size), Image.Resampling.LANCZOS))
    # Lanczos rings slightly beyond the input range; keep it (e.g. RGB stays in [0, 1])
    return np.clip(out, x.min(), x.max())


def _ring_dir(data_dir: str | Path | None) -> Path:
    from astrorepro.paths import data_dir as default_dir

    return Path(data_dir) if data_dir is not None else default_dir() / RING_DIR


def load_ring_catalog(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Read and check ``ring_catalog.csv`` (columns id_str, ring, file_loc, vote fractions).

    Args:
        data_dir: the ``decals_rings_zoobot`` folder; default ``paths.data_dir()/decals_rings_zoobot``.

    Raises:
        FileNotFoundError: the catalogue is missing.
        ValueError: unreadable, missing columns, bad labels or duplicate ids.
    """
    path = _ring_dir(data_dir) / RING_CATALOG
    if not path.is_file():
        raise FileNotFoundError(f"DECaLS ring catalogue not found: {path}")
    try:
        cat = pd.read_csv(path, dtype={"id_str": str})
    except Exception as e:  # pandas raises several types
        raise ValueError(f"{path}: cannot parse as CSV ({e})") from e
    missing = [c for c in _RING_COLUMNS if c not in cat.columns]
    if missing:
        raise ValueError(f"{path}: missing required columns {missing} (has {list(cat.columns)})")
    if cat["ring"].isna().any() or not set(cat["ring"].unique()) <= {0, 1}:
        raise ValueError(f"{path}: column 'ring' must hold only 0/1")
    if cat["id_str"].duplicated().any():
        raise ValueError(f"{path}: duplicate id_str values")
    return cat


def ring_split(ids: Sequence[str], rings: Sequence[int] | None = None,
               check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The fixed DECaLS-rings split of DESIGN.md.

    Args:
        ids: the galaxy ids (any order).
        rings: their 0/1 labels, to assert the 50/50 test balance (with ``check``).
        check: require the full set of 440 and a 50/50 test set.

    Returns:
        (train_idx, test_idx): integer indices into ``ids``; test = the ids sorted as strings at
        positions 0, 4, ..., 396 (100), train = the other ones.
    """
    ids = np.asarray(ids).astype(str)
    order = np.argsort(ids, kind="stable")
    if check and len(ids) != 440:
        raise ValueError(f"the fixed ring split needs the full 440 ids, got {len(ids)}")
    pos = np.arange(0, min(400, len(ids)), 4)
    test = np.sort(order[pos])
    train = np.setdiff1d(np.arange(len(ids)), test)
    if check and rings is not None:
        r = np.asarray(rings)[test]
        if len(test) != 100 or r.sum() != 50:
            raise ValueError(f"fixed ring split is not 50/50: {int(r.sum())} rings of {len(test)}")
    return train, test


def read_rgb_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """Read one colour image as float32 (3, H, W) in [0, 1], optionally resized to size x size.

    Resizing uses PIL's Lanczos filter (anti-aliased), as in the preparation of the sample.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or not a readable image.
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("RGB")
            if size is not None:
                im = im.resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: unreadable or truncated image ({e})") from e
    return arr.transpose(2, 0, 1).copy()


def load_decals_rings(data_dir: str | Path | None = None, size: int | None = None,
                      split: str | None = None) -> GalaxyImages:
    """Load the 440 real DECaLS ring / not-ring galaxies as a GalaxyImages in RGB space.

    Args:
        data_dir: the ``decals_rings_zoobot`` folder (default under ``paths.data_dir()``).
        size: resize images to size x size (e.g. 64 to match simulated stamps); None keeps 256.
        split: None (all, in catalogue order), "train" (the 340 training pool) or "test" (the
            fixed 100, 50/50).

    Returns:
        GalaxyImages with images (n, 3, H, W) float32 RGB in [0, 1], labels 0/1 (not ring /
        ring), ids = id_str, truth = the catalogue rows (plus ``split``), pixel_scale None
        (Galaxy Zoo zooms each image to the galaxy).
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    root = _ring_dir(data_dir)
    cat = load_ring_catalog(root)
    train, test = ring_split(cat["id_str"].to_numpy(), cat["ring"].to_numpy())
    s = np.full(len(cat), "train", dtype=object)
    s[test] = "test"
    cat = cat.assign(split=s)
    if split is not None:
        cat = cat[cat["split"] == split].reset_index(drop=True)
    imgs = np.stack([read_rgb_image(root / f, size) for f in cat["file_loc"]])
    return GalaxyImages(images=imgs, labels=cat["ring"].to_numpy().astype(int),
                        class_names=RING_CLASSES, truth=cat, bands=("R", "G", "B"), units="rgb",
                        pixel_scale=None, ids=cat["id_str"].to_numpy())


def simulate_gz_like(n: int, seed: int | np.random.Generator = 0, size: int = 64, native: int = 160,
                     mapping: str = "gz", **sim_kw) -> GalaxyImages:
    """Simulated galaxies framed like the real Galaxy Zoo JPEGs, in RGB.

    Renders ``native`` x ``native`` stamps at the native 0.262"/pixel (default 160: a 42" field,
    chosen so that the median half-light radius over the frame size is close to the real
    sample's, about 0.1; measured on the data page), maps them to RGB (``mapping``
    "gz" or "dr2") and resizes the RGB images to ``size`` (the GZ pipeline also maps first and
    resizes after). ``sim_kw`` go to :func:`astrorepro.data.galaxies.simulate_galaxies`.
    """
    from .galaxies import simulate_galaxies

    sim = simulate_galaxies(n, seed=seed, size=native, **sim_kw)
    rgb = sim.to_rgb(mapping)
    return replace(rgb, images=resize_images(rgb.images, size),
                   pixel_scale=sim.pixel_scale * native / size)


def rgb_statistics(images: np.ndarray, threshold: float = 0.1) -> pd.DataFrame:
    """Model-free statistics of RGB galaxy images (n, 3, H, W) in [0, 1].

    Columns: ``background`` (median of the 4-pixel border of the grey image), ``concentration``,
    ``r50_frac`` (half-light radius over the frame size) and ``q`` from
    :func:`astrorepro.data.galaxies.measure_morphology` on the background-subtracted grey image
    inside a circular window of radius H/4 around the frame centre (so neighbours in the real
    frames weigh less), ``colour_rb`` (mean R - B over the window's pixels brighter than
    ``threshold`` above the background) and ``peak`` (the brightest grey pixel in the window).
    """
    from .galaxies import measure_morphology

    x = np.asarray(images, np.float32)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (n, 3, H, W) RGB, got {x.shape}")
    n, _, H, W = x.shape
    grey = x.mean(1)
    b = 4
    border = np.concatenate([grey[:, :b].reshape(n, -1), grey[:, -b:].reshape(n, -1),
                             grey[:, :, :b].reshape(n, -1), grey[:, :, -b:].reshape(n, -1)], 1)
    bg = np.median(border, 1)
    yy, xx = np.mgrid[0:H, 0:W]
    win = ((xx - (W - 1) / 2) ** 2 + (yy - (H - 1) / 2) ** 2) <= (H / 4) ** 2
    g = np.clip(grey - bg[:, None, None], 0, None) * win
    m = measure_morphology(g)
    bright = (grey - bg[:, None, None] > threshold) & win
    rb = x[:, 0] - x[:, 2]
    colour = np.where(bright.sum((1, 2)) > 0, (rb * bright).sum((1, 2)) / np.maximum(bright.sum((1, 2)), 1), np.nan)
    return pd.DataFrame({"background": bg, "concentration": m["concentration"],
                         "r50_frac": m["r50"] / H, "q": m["q"], "colour_rb": colour,
                         "peak": (grey * win).max((1, 2))})


def compare_statistics(reference: pd.DataFrame, others: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Medians, quartiles and two-sample Kolmogorov-Smirnov distance of every shared column.

    Args:
        reference: statistics of the reference sample (e.g. the real images).
        others: {name: statistics} of samples to compare with it.

    Returns:
        DataFrame with one row per (statistic, sample): median, q25, q75, and for the other
        samples ``ks_d`` (the KS statistic against the reference) and ``ks_p``.
    """
    from scipy.stats import ks_2samp

    rows = []
    for col in reference.columns:
        ref = reference[col].dropna().to_numpy()
        rows.append({"statistic": col, "sample": "reference", "median": np.median(ref),
                     "q25": np.quantile(ref, 0.25), "q75": np.quantile(ref, 0.75),
                     "ks_d": 0.0, "ks_p": 1.0})
        for name, df in others.items():
            if col not in df:
                continue
            v = df[col].dropna().to_numpy()
            ks = ks_2samp(ref, v)
            rows.append({"statistic": col, "sample": name, "median": np.median(v),
                         "q25": np.quantile(v, 0.25), "q75": np.quantile(v, 0.75),
                         "ks_d": float(ks.statistic), "ks_p": float(ks.pvalue)})
    return pd.DataFrame(rows)
