"""Where things live: the repository, the build folder and the real-data directory.

The one place that knows paths. Nothing here creates or downloads anything.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the folder that holds the real survey samples.
DATA_ENV = "ASTROREPRO_DATA_DIR"
#: Environment variable naming the folder where an executed chapter writes its scorecard.
RUN_DIR_ENV = "ASTROREPRO_RUN_DIR"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
BOOK_DIR = REPO_DIR / "book"
BUILD_DIR = REPO_DIR / "_build"


def data_dir() -> Path:
    """The real-data directory.

    ``$ASTROREPRO_DATA_DIR`` when set; otherwise ``../shared/data`` beside the repository (the layout
    of the project's own machines); otherwise ``~/.cache/astrorepro/data``. The folder may not exist:
    callers check for the files they need and skip with a clear reason when they are absent.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser().resolve()
    shared = REPO_DIR.parent / "shared" / "data"
    if shared.is_dir():
        return shared.resolve()
    return Path.home() / ".cache" / "astrorepro" / "data"


def run_dir() -> Path:
    """Folder where executed notebooks and their scorecards go (``$ASTROREPRO_RUN_DIR``)."""
    env = os.environ.get(RUN_DIR_ENV)
    return Path(env).expanduser().resolve() if env else BUILD_DIR / "executed"
