"""The GPU bundle: which packages travel, and the reassembly of the parts on the GPU machine."""

import hashlib
import importlib.util
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bundle_module():
    spec = importlib.util.spec_from_file_location("gpu_bundle", ROOT / "gpu" / "bundle.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_closure_carries_what_the_gpu_image_lacks_and_nothing_it_has():
    b = _bundle_module()
    have = b.preinstalled()
    assert {"torch", "numpy", "pandas", "scikit-learn"} <= have
    need = b.closure(["astrorepro[ml,llm]", *b.EXECUTION], skip=have | b.NEVER)
    # the papermill kernel and the chapter libraries the image lacks travel ...
    assert {"papermill", "nbclient", "ipykernel", "jupyter-client", "astropy", "lightgbm", "gguf"} <= set(need)
    # ... and nothing the image holds, nor PyTorch
    assert not set(need) & (have | {"torch"})
    assert need["papermill"] == __import__("importlib.metadata").metadata.version("papermill")


def _make_parts(folder: Path, n_parts: int) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {"wheels/fake-1.0-py3-none-any.whl": b"w" * 3000, "data/README.md": b"data"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    size = -(-len(blob) // n_parts)
    for i in range(n_parts):
        p = folder / f"p{i + 1}"
        p.mkdir(parents=True)
        (p / f"bundle.tar.{i:02d}").write_bytes(blob[i * size:(i + 1) * size])
        (p / "MANIFEST").write_text(f"{n_parts}\n{digest}\n")
    return digest


@pytest.mark.skipif(os.name != "posix", reason="run_full.sh is a bash script")
def test_run_full_collects_parts_across_calls_then_installs(tmp_path):
    parts = tmp_path / "parts"
    _make_parts(parts, 2)
    # a stand-in python3 that records its arguments (the real one is the GPU image's Python 3.12)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text('#!/usr/bin/env bash\necho "python3 $*" >> "$ASTROREPRO_GPU_DIR/calls.log"\n')
    fake.chmod(0o755)
    g = tmp_path / "g"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ASTROREPRO_GPU_DIR": str(g),
           "OUT": str(tmp_path / "out")}

    def call(part, *args):  # one device call: a fresh copy of the repository carrying one part
        repo = tmp_path / f"repo{part}"
        (repo / "gpu").mkdir(parents=True)
        (repo / "gpu" / "run_full.sh").write_text((ROOT / "gpu" / "run_full.sh").read_text())
        if part:
            (repo / ".gpu").mkdir()
            os.symlink(parts / f"p{part}", repo / ".gpu" / f"p{part}")
        return subprocess.run(["bash", "gpu/run_full.sh", *args], cwd=repo, env=env, capture_output=True, text=True)

    r = call(1)
    assert r.returncode == 0 and "have 1 of 2 parts" in r.stdout
    assert not (g / "site").exists()
    r = call(2)
    assert r.returncode == 0, r.stderr
    assert (g / "data" / "README.md").read_text() == "data"
    assert (g / "site" / ".installed").exists()
    log = (g / "calls.log").read_text()
    assert "pip install" in log and "fake-1.0-py3-none-any.whl" in log
    r = call(0, "lmd")  # installed once; a later call only runs the chapters
    assert log.count("pip install") == (g / "calls.log").read_text().count("pip install")
    assert "astrorepro.cli run lmd --mode full" in (g / "calls.log").read_text()


def test_run_full_refuses_a_corrupted_bundle(tmp_path):
    parts = tmp_path / "parts"
    _make_parts(parts, 1)
    chunk = parts / "p1" / "bundle.tar.00"
    chunk.write_bytes(b"x" + chunk.read_bytes()[1:])
    repo = tmp_path / "repo"
    (repo / "gpu").mkdir(parents=True)
    (repo / "gpu" / "run_full.sh").write_text((ROOT / "gpu" / "run_full.sh").read_text())
    (repo / ".gpu").mkdir()
    os.symlink(parts / "p1", repo / ".gpu" / "p1")
    r = subprocess.run(["bash", "gpu/run_full.sh"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, "ASTROREPRO_GPU_DIR": str(tmp_path / "g"), "OUT": str(tmp_path / "out")})
    assert r.returncode != 0
    assert not (tmp_path / "g" / "site" / ".installed").exists()
