"""astrorepro: reproductions of five papers on machine learning for astronomy.

The library behind the astrorepro Jupyter Book. Notebooks in ``book/`` tell the story; everything
they compute (simulators, models, training, theory, scorecards, figures) lives here.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
