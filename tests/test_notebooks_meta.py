"""Conventions every chapter notebook keeps (checked on the sources, without executing them)."""

import json

import pytest

from astrorepro import chapters
from astrorepro.execute import notebook_parameters
from astrorepro.paths import BOOK_DIR


def _cells(key):
    return json.loads((BOOK_DIR / chapters.info(key).notebook).read_text())["cells"]


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


@pytest.mark.parametrize("key", chapters.CHAPTERS)
def test_parameters_then_start(key):
    cells = [c for c in _cells(key) if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", []), f"{key}: the first code cell must be tagged parameters"
    assert set(notebook_parameters(BOOK_DIR / chapters.info(key).notebook)) >= {"mode", "seed", "device"}
    assert f'chapters.start("{key}"' in _src(cells[1]) or f"chapters.start('{key}'" in _src(cells[1]), \
        f"{key}: the cell after the parameters must derive the run with chapters.start"


@pytest.mark.parametrize("key", chapters.CHAPTERS)
def test_scorecard_digest_is_compared_by_nbval(key):
    cells = [c for c in _cells(key) if c["cell_type"] == "code"]
    i = next(i for i, c in enumerate(cells) if _src(c).strip() == "run.finish()")
    digest = cells[i + 1]
    assert "NBVAL_CHECK_OUTPUT" in _src(digest) and "scorecard.digest()" in _src(digest), key


@pytest.mark.parametrize("key", chapters.CHAPTERS)
def test_sources_are_stored_without_outputs(key):
    for c in _cells(key):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, f"{key}: strip outputs from book/ sources"
