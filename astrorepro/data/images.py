"""The container of labelled multi-band images that the image simulators and loaders return.

:class:`LabelledImages` holds the pixels, labels, per-image truth and what the axes mean; the DECaLS
galaxies (:class:`~astrorepro.data.galaxies.GalaxyImages`) and the WISE cutouts
(:class:`~astrorepro.data.wise.WiseImages`) are subclasses that only change the defaults and add
their own conversions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass
class LabelledImages:
    """A batch of images with labels and truth.

    Attributes:
        images: float32 (n, C, H, W); ``units`` says what the values are.
        labels: int (n,) class index into ``class_names``.
        class_names: names of the classes.
        truth: pandas DataFrame, one row per image (simulator truth, or the real catalogue).
        bands: band or channel names of axis 1.
        units: e.g. "nanomaggies", "vega_nanomaggies" or "rgb".
        pixel_scale: arcsec per pixel, or None where unknown/variable.
        ids: identifiers (n,) (strings for real data, running integers for simulations).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    truth: pd.DataFrame
    bands: tuple[str, ...] = ()
    units: str = ""
    pixel_scale: float | None = None
    ids: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (n, C, H, W), got shape {self.images.shape}")
        if len(self.labels) != len(self.images) or len(self.truth) != len(self.images):
            raise ValueError("images, labels and truth must have the same length")
        if self.bands and len(self.bands) != self.images.shape[1]:
            raise ValueError(f"{len(self.bands)} band names for {self.images.shape[1]} image channels")
        if self.ids is None:
            self.ids = np.arange(len(self.images))

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx: np.ndarray | Sequence[int]):
        """Rows ``idx`` (integer or boolean index) as a new container of the same class."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(self, images=self.images[idx], labels=self.labels[idx],
                       truth=self.truth.iloc[idx].reset_index(drop=True), ids=self.ids[idx])

    def bands_subset(self, bands: Sequence[str]):
        """Keep only some bands (e.g. W1-W3, for the W3/W4-missing experiments)."""
        unknown = [b for b in bands if b not in self.bands]
        if unknown:
            raise ValueError(f"unknown band(s) {unknown}; the images have {list(self.bands)}")
        idx = [self.bands.index(b) for b in bands]
        return replace(self, images=self.images[:, idx], bands=tuple(bands))
