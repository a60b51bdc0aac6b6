"""The command line refuses bad input with one line and exit status 2, before any work starts."""

import json

import pytest

from astrorepro import chapters
from astrorepro.cli import main
from astrorepro.execute import chapter_job, coerce, notebook_parameters
from astrorepro.paths import BOOK_DIR


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("argv, allowed", [
    (["run", "nosuch"], "choose from: " + ", ".join(chapters.CHAPTERS)),
    (["run", "lmd", "--mode", "fast"], "invalid choice: 'fast'"),
    (["run", "lmd", "-p", "nosuch", "1"], "allowed:"),
    (["run", "lmd", "-p", "mode", "full"], "with --mode"),
    (["run", "lmd", "--seed", "-1"], "non-negative"),
    (["run", "lmd", "--seed", "x"], "invalid int"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_fail_in_one_line_before_any_work(argv, allowed, capsys, tmp_path, monkeypatch):
    import astrorepro.execute as ex

    monkeypatch.setattr(ex, "execute", lambda job: pytest.fail("work started"))
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv + (["--output-dir", str(tmp_path)] if argv[0] == "run" else [])))
    assert exc.value.code == 2
    assert allowed in _err(capsys)


def test_list_shows_every_chapter_with_its_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for key in chapters.CHAPTERS:
        assert key in out
    assert "mode='quick'" in out and "seed=0" in out


def test_every_chapter_has_a_literal_parameters_cell_with_mode_seed_device():
    for key in chapters.CHAPTERS:
        params = notebook_parameters(BOOK_DIR / chapters.info(key).notebook)
        assert params["mode"] == "quick" and params["seed"] == 0 and params["device"] == "auto", key


def test_parameters_cell_must_be_literal(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "n = 2 * 3\n"}]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="plain literal"):
        notebook_parameters(path)
    with pytest.raises(FileNotFoundError):
        notebook_parameters(tmp_path / "missing.ipynb")


def test_values_are_coerced_to_the_default_type():
    assert coerce("n", "5", 1) == 5 and coerce("x", "0.5", 1.0) == 0.5 and coerce("b", "false", True) is False
    assert coerce("s", "cuda", "auto") == "cuda"
    with pytest.raises(ValueError, match="takes a int"):
        coerce("n", "five", 1)


def test_chapter_job_carries_mode_seed_and_parameters(tmp_path):
    job = chapter_job("lmd", "full", 7, {"device": "cpu"}, tmp_path)
    assert job.parameters == {"mode": "full", "seed": 7, "device": "cpu"}
    assert job.notebook.is_file() and job.output_dir == tmp_path


def test_config_overrides_are_checked():
    with pytest.raises(ValueError, match="unknown config field"):
        chapters.config("lmd", "quick", no_such_field=1)
    with pytest.raises(ValueError, match="unknown mode"):
        chapters.config("lmd", "medium")
    with pytest.raises(ValueError, match="unknown chapter"):
        chapters.get("nosuch")


def test_scorecard_command_reads_the_json(tmp_path, capsys):
    from astrorepro.scorecard import Scorecard

    sc = Scorecard("lmd")
    sc.claim("x", ref="Thm 1", claim="a claim", value=1.0, op="<", target=2.0)
    sc.provenance = {"mode": "quick", "device": "cpu", "seed": 0, "astrorepro_version": "0.1.0",
                     "git_commit": "abc", "wall_time_s": 1.0}
    sc.save(tmp_path / "lmd.scorecard.json")
    assert main(["scorecard", "--executed-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "a claim" in out and "reproduced" in out and "commit abc" in out
