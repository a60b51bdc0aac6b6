"""pyproject.toml is the source of truth for dependencies; environment.yml must mirror it."""

import re
import tomllib

import yaml

from astrorepro.paths import REPO_DIR


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def _pyproject_requirements() -> set[str]:
    meta = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]
    reqs = set(meta["dependencies"])
    for name, extra in meta["optional-dependencies"].items():
        if name not in ("all", "real"):  # 'all' only names the others; 'real' is optional
            reqs |= set(extra)
    return {_norm(r) for r in reqs}


def _environment_requirements() -> set[str]:
    env = yaml.safe_load((REPO_DIR / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_norm(r) for r in pip if not r.startswith("-e")}


def test_environment_yml_mirrors_pyproject():
    py, env = _pyproject_requirements(), _environment_requirements()
    assert py - env == set(), f"in pyproject.toml but not environment.yml: {sorted(py - env)}"
    assert env - py == set(), f"in environment.yml but not pyproject.toml: {sorted(env - py)}"


def test_the_pins_that_matter():
    reqs = _pyproject_requirements()
    assert "torch==2.13.0" in reqs
    assert any(r.startswith("jupyter-book") and "<2" in r for r in reqs)
    env = yaml.safe_load((REPO_DIR / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_the_all_extra_names_every_extra():
    meta = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]
    extras = set(meta["optional-dependencies"]) - {"all", "real"}
    assert meta["optional-dependencies"]["all"] == [f"astrorepro[{','.join(sorted(extras, key=list(meta['optional-dependencies']).index))}]"]
