"""Building the HTML book from the executed notebooks.

The sources in ``book/`` are never modified by a build. :func:`stage` copies ``_config.yml``,
``_toc.yml`` and ``book/`` into ``_build/site/``, replacing every notebook with its executed copy
from the run folder; :func:`build_html` runs Jupyter Book 1.x on that copy with warnings as errors
and checks that the HTML exists (an unpinned Jupyter Book 2 exits 0 and builds nothing).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .paths import BOOK_DIR, BUILD_DIR, REPO_DIR, run_dir

SITE_DIR = BUILD_DIR / "site"
HTML_DIR = BUILD_DIR / "html"


def toc_files(toc: Path = REPO_DIR / "_toc.yml") -> list[str]:
    """Every file named in ``_toc.yml`` (without suffix), in reading order."""
    def walk(node) -> list[str]:
        out = []
        if isinstance(node, dict):
            if "file" in node:
                out.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                out += walk(node.get(key, []))
        elif isinstance(node, list):
            for item in node:
                out += walk(item)
        return out

    data = yaml.safe_load(toc.read_text())
    return [data["root"], *walk(data)]


def toc_notebooks() -> list[Path]:
    """The notebooks of the book, in reading order."""
    return [REPO_DIR / f"{f}.ipynb" for f in toc_files() if (REPO_DIR / f"{f}.ipynb").is_file()]


def stage(executed_dir: Path | None = None) -> Path:
    """Copy the book's sources into ``_build/site`` with every notebook replaced by its executed copy.

    Raises:
        FileNotFoundError: when a notebook of the table of contents has not been executed.
    """
    executed_dir = Path(executed_dir or run_dir())
    missing = [nb.name for nb in toc_notebooks() if not (executed_dir / nb.name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"not executed yet: {', '.join(missing)} (looked in {executed_dir}); run 'astrorepro run all' first"
        )
    if SITE_DIR.exists():
        shutil.rmtree(SITE_DIR)
    SITE_DIR.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_DIR / name, SITE_DIR / name)
    shutil.copytree(BOOK_DIR, SITE_DIR / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for nb in toc_notebooks():
        shutil.copy2(executed_dir / nb.name, SITE_DIR / nb.relative_to(REPO_DIR))
    _add_local_mathjax(SITE_DIR / "_extra" / "mathjax")
    return SITE_DIR


def _add_local_mathjax(dest: Path) -> None:
    """Copy MathJax (shipped by the PyPI package ``jupyter-server-mathjax``) into the book's static files.

    The book then renders its mathematics without reaching a CDN: offline, behind a firewall, and
    in the headless browser of the tests. It goes into ``html_extra_path`` (copied to the site root
    as is; in ``_static`` every script would be added to every page) and ``_config.yml`` points
    ``mathjax_path`` at it.
    """
    import importlib.util

    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jupyter-server-mathjax is not installed: pip install -e '.[book]'")
    src = Path(list(spec.submodule_search_locations)[0]) / "static"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__", "unpacked"))


def build_html(executed_dir: Path | None = None, quiet: bool = False) -> Path:
    """Stage the book and build it with ``jupyter-book build -W``; returns the path of ``index.html``.

    Raises:
        RuntimeError: when the build fails or produces no HTML.
    """
    site = stage(executed_dir)
    if HTML_DIR.exists():
        shutil.rmtree(HTML_DIR)
    jb = Path(sys.executable).with_name("jupyter-book")
    # Jupyter Book writes into <path-output>/_build/html: the repository root gives _build/html.
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(site), "--path-output", str(REPO_DIR),
           "-W", "--keep-going"]
    if quiet:
        cmd.append("--quiet")
    proc = subprocess.run(cmd, cwd=REPO_DIR)
    if proc.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed (exit {proc.returncode}); see the warnings above")
    if not (HTML_DIR / "index.html").is_file():
        raise RuntimeError(f"jupyter-book exited 0 but wrote no {HTML_DIR / 'index.html'}: is jupyter-book<2 installed?")
    return HTML_DIR / "index.html"


#: Executed full-mode notebooks (and their scorecards) committed for the published book.
PUBLISHED_DIR = REPO_DIR / "published"


def _code_sources(nb: dict) -> list[str]:
    """The code cells' sources, without papermill's injected-parameters cell."""
    out = []
    for c in nb.get("cells", []):
        if c.get("cell_type") != "code" or "injected-parameters" in c.get("metadata", {}).get("tags", []):
            continue
        src = c.get("source", "")
        out.append("".join(src) if isinstance(src, list) else src)
    return out


def staleness(executed: Path, source: Path, version: str | None = None) -> list[str]:
    """Why an executed notebook no longer matches the code; an empty list when it is current.

    Checks that the notebook was executed top to bottom (execution counts 1, 2, 3, ...), that the
    mode it was run in (papermill's parameters) is the mode its recorded provenance says, that the
    recorded astrorepro version is the library's, that no cell holds an error, and that its code
    cells are those of the source notebook in ``book/``.
    """
    import json

    from . import __version__

    version = version or __version__
    nb = json.loads(Path(executed).read_text())
    problems = []
    counts = [c.get("execution_count") for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if any(n is None for n in counts):
        problems.append("some code cells were never executed")
    elif counts != list(range(1, len(counts) + 1)):
        problems.append(f"executed out of order (execution counts {counts[:8]}...)")
    if any(o.get("output_type") == "error" for c in nb.get("cells", []) for o in c.get("outputs", [])):
        problems.append("holds an error output")
    meta = nb.get("metadata", {})
    run_mode = meta.get("papermill", {}).get("parameters", {}).get("mode")
    prov = meta.get("astrorepro", {})
    if not prov:
        problems.append("no astrorepro provenance in its metadata (not executed by 'astrorepro run')")
    else:
        if run_mode != prov.get("mode"):
            problems.append(f"papermill ran it in mode {run_mode!r} but its scorecard says {prov.get('mode')!r}")
        if prov.get("astrorepro_version") != version:
            problems.append(f"executed with astrorepro {prov.get('astrorepro_version')}, the code is {version}")
    if _code_sources(nb) != _code_sources(json.loads(Path(source).read_text())):
        problems.append(f"its code cells differ from {Path(source).name} in book/")
    return problems
