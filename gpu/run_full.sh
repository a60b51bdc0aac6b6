#!/usr/bin/env bash
# Full mode on the GPU machine, from the parts gpu/bundle.py made (see gpu/README.md).
#
#   bash gpu/run_full.sh                 collect the parts carried so far; install once all are there
#   bash gpu/run_full.sh CHAPTER ...     the same, then execute those chapters in full mode (or: all)
#
# Executed notebooks and scorecards go to published/ and, as published.tar.gz, to $OUT (the folder
# the device tool brings back), with the GPU's nvidia-smi report and the run's log.
set -euo pipefail
cd "$(dirname "$0")/.."
G=${ASTROREPRO_GPU_DIR:-/tmp/astrorepro-gpu}
OUT=${OUT:-$G/out}
mkdir -p "$G/chunks" "$OUT"

# 1. collect the parts that travelled in this call (each carried folder .gpu/pN holds one part)
for d in .gpu/p*/; do
  [ -d "$d" ] && cp -f "$d"/* "$G/chunks/"
done
if [ ! -f "$G/site/.installed" ]; then
  [ -f "$G/chunks/MANIFEST" ] || { echo "no part has travelled yet: carry .gpu/p1" >&2; exit 2; }
  n=$(sed -n 1p "$G/chunks/MANIFEST"); sha=$(sed -n 2p "$G/chunks/MANIFEST")
  have=$(ls "$G"/chunks/bundle.tar.* | wc -l)
  if [ "$have" -lt "$n" ]; then
    echo "have $have of $n parts; carry the next one (.gpu/p$((have + 1)))"
    exit 0
  fi
  # 2. reassemble, check, unpack, install the wheels beside the image's own packages
  cat "$G"/chunks/bundle.tar.* > "$G/bundle.tar"
  echo "$sha  $G/bundle.tar" | sha256sum -c --quiet
  tar -xf "$G/bundle.tar" -C "$G" && rm "$G/bundle.tar"
  mkdir -p "$G/site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$G/site" "$G"/wheels/*.whl
  touch "$G/site/.installed"
  echo "installed $(ls "$G"/wheels/*.whl | wc -l) wheels into $G/site"
fi
export PYTHONPATH="$G/site:$PWD" ASTROREPRO_DATA_DIR="$G/data" PYTHONUNBUFFERED=1
[ $# -gt 0 ] || exit 0

# 3. execute the chapters in full mode, one at a time (each holds the whole GPU)
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
python3 -c 'import torch, astrorepro; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
status=0
python3 -m astrorepro.cli run "$@" --mode full --jobs 1 --output-dir published 2>&1 | tee "$OUT/run.log" || status=$?
if [ -d published ]; then tar -czf "$OUT/published.tar.gz" published; fi
exit $status
