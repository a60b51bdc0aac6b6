"""Tests of the book's plotting helpers."""

import matplotlib

from astrorepro import plots


def test_placeholder_figure_says_what_is_missing():
    fig = plots.placeholder_figure("real Gaia XP file not found")
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.texts] == ["real Gaia XP file not found"]
    assert not ax.axison
    matplotlib.pyplot.close(fig)
