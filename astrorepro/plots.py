"""One plotting style for the whole book, and glue helpers for figures and numbers.

Figures are made with :func:`subplots`, glued by name with :func:`glue_figure` (myst-nb ``glue``),
and shown in the book by a ``{glue:figure}`` directive whose caption names the paper figure they
reproduce. Numbers in prose are glued with :func:`glue_value` and cited with ``{glue:text}``.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

# No backend is forced here: in a notebook the inline backend must stay active, or glued figures
# would carry only a text repr and no image.

#: Width in inches of a full-width and a half-width figure.
WIDTHS = {"full": 7.5, "half": 3.8, "wide": 10.0}

#: Named colours (colour-blind safe, Okabe–Ito).
COLORS = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "red": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",
}

#: One colour per model family, used consistently across chapters.
MODEL_COLORS = {
    "ours": COLORS["blue"],
    "baseline": COLORS["orange"],
    "reference": COLORS["grey"],
    "truth": COLORS["black"],
    "pretrained": COLORS["blue"],
    "scratch": COLORS["orange"],
    "random": COLORS["grey"],
}

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "lines.linewidth": 1.4,
    "image.cmap": "viridis",
    "axes.prop_cycle": matplotlib.cycler(color=[COLORS[c] for c in ("blue", "orange", "green", "red", "purple", "sky", "black")]),
}


def use_style() -> None:
    """Apply the book's matplotlib style (idempotent)."""
    plt.rcParams.update(STYLE)


def subplots(nrows: int = 1, ncols: int = 1, width: str | float = "full", aspect: float = 0.62, **kw):
    """``plt.subplots`` with the book's figure sizes.

    Args:
        width: ``"full"``, ``"half"``, ``"wide"`` or a width in inches.
        aspect: height of one row of panels relative to the width of one column.
    """
    use_style()
    w = WIDTHS[width] if isinstance(width, str) else float(width)
    h = w / ncols * aspect * nrows
    kw.setdefault("constrained_layout", True)
    return plt.subplots(nrows, ncols, figsize=(w, h), **kw)


def _glue(name: str, obj, display: bool) -> None:
    try:
        from myst_nb import glue
    except ImportError:  # outside the book's environment: nothing to glue into
        return
    glue(name, obj, display=display)


def glue_figure(name: str, fig, display: bool = False) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive, then close it.

    With ``display=False`` (the default) the figure appears only where the book places it.
    """
    _glue(name, fig, display)
    plt.close(fig)


def placeholder_figure(text: str):
    """A small figure saying what is missing, e.g. real data absent from the data directory, so that every
    figure a chapter's text glues stays defined and the book builds."""
    fig, ax = subplots(1, 1, width="half", aspect=0.4)
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()
    return fig


def glue_value(name: str, value, display: bool = False) -> None:
    """Glue a number (or short text) for ``{glue:text}`name:fmt``` in the prose."""
    if hasattr(value, "item"):
        value = value.item()
    _glue(name, value, display)


def glue_table(name: str, df: pd.DataFrame, display: bool = True) -> None:
    """Glue a table under ``name`` (and show it where the cell is, by default)."""
    _glue(name, df, display)
