"""Committed executed notebooks (``published/``, full mode on a GPU) must not be stale."""

import json
import shutil

import pytest

from astrorepro import __version__, chapters
from astrorepro.book import PUBLISHED_DIR, staleness
from astrorepro.paths import BOOK_DIR


def _executed(tmp_path, mode="full", prov_mode="full", version=__version__, counts=None, error=False):
    src = {"cells": [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "mode = 'quick'\n", "outputs": []},
        {"cell_type": "code", "metadata": {}, "source": "x = 1\n", "outputs": []},
        {"cell_type": "code", "metadata": {}, "source": "print(x)\n", "outputs": []},
    ], "metadata": {}}
    (tmp_path / "src.ipynb").write_text(json.dumps(src))
    nb = json.loads(json.dumps(src))
    nb["cells"].insert(1, {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                           "source": f"mode = {mode!r}\n", "outputs": []})
    for i, c in enumerate(nb["cells"]):
        c["execution_count"] = (counts or list(range(1, 5)))[i]
    if error:
        nb["cells"][-1]["outputs"] = [{"output_type": "error", "ename": "E", "evalue": "", "traceback": []}]
    nb["metadata"] = {"papermill": {"parameters": {"mode": mode}},
                      "astrorepro": {"mode": prov_mode, "astrorepro_version": version}}
    (tmp_path / "run.ipynb").write_text(json.dumps(nb))
    return tmp_path / "run.ipynb", tmp_path / "src.ipynb"


def test_a_current_notebook_passes(tmp_path):
    assert staleness(*_executed(tmp_path)) == []


@pytest.mark.parametrize("kw, problem", [
    (dict(counts=[1, 2, 4, 3]), "out of order"),
    (dict(prov_mode="quick"), "mode"),
    (dict(version="0.0.1"), "executed with astrorepro 0.0.1"),
    (dict(error=True), "error output"),
])
def test_stale_notebooks_are_caught(tmp_path, kw, problem):
    problems = staleness(*_executed(tmp_path, **kw))
    assert any(problem in p for p in problems), problems


def test_edited_source_is_caught(tmp_path):
    run, src = _executed(tmp_path)
    nb = json.loads(src.read_text())
    nb["cells"][2]["source"] = "print(x + 1)\n"
    src.write_text(json.dumps(nb))
    assert any("differ" in p for p in staleness(run, src))


def test_published_notebooks_are_current():
    published = sorted(PUBLISHED_DIR.glob("*.ipynb")) if PUBLISHED_DIR.is_dir() else []
    if not published:
        pytest.skip("no executed full-mode notebooks are committed in published/ yet (needs a GPU run: make publish)")
    for nb in published:
        if nb.stem in ("scorecard", "status"):
            continue
        assert staleness(nb, BOOK_DIR / nb.name) == [], nb.name
        key = next((k for k in chapters.CHAPTERS if chapters.info(k).notebook == nb.name), None)
        if key:
            meta = json.loads(nb.read_text())["metadata"]["astrorepro"]
            assert meta["mode"] == "full", f"{nb.name} is published from a {meta['mode']}-mode run"
