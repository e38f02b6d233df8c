#!/usr/bin/env bash
# Issue 14's device check: `plan --preset mico` and the training benchmark on a GPU, as JSON.
#
# Run from the repository root on a lent GPU machine; it ends within 8 minutes:
#     OUT=$OUT bash benchmarks/gpu_check.sh        (device tool: carry [".whl"])
# That machine's python3 has torch but not Opacus, and fetches nothing: put Opacus' wheel in
# .whl/ first (`pip download --no-deps opacus==1.6.0 -d .whl`, with `/.whl/` in
# .git/info/exclude); the script installs what .whl/ holds into a private folder.
# `DEVICE=cpu PY=.venv/bin/python OUT=/tmp/check bash benchmarks/gpu_check.sh` runs it here.
#
# Writes under $OUT: device.json (interpreter, torch, device), plan.{txt,json}, training.{txt,json}
# and utilisation.csv (nvidia-smi every second, when there is one).
set -euo pipefail
OUT=${OUT:-gpu-check}
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
mkdir -p "$OUT"
if ! "$PY" -c 'import opacus' 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/gpu-check-site .whl/*.whl
    export PYTHONPATH=/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}
fi
# generator/ and micokit without installing either.
export PYTHONPATH=$PWD:$PWD/starting_kit${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
"$PY" -c '
import json, sys, torch
cuda = torch.cuda.is_available()
print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__, "cuda": cuda,
                  "device": torch.cuda.get_device_name(0) if cuda else "cpu"}))
' | tee "$OUT/device.json"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,memory.total \
        --format=csv -l 1 > "$OUT/utilisation.csv" &
    SAMPLER=$!
    trap 'kill "$SAMPLER" 2> /dev/null || true' EXIT
fi
timeout 270 "$PY" -m generator plan --preset mico --device "$DEVICE" --quiet \
    --json "$OUT/plan.json" | tee "$OUT/plan.txt"
timeout 180 "$PY" benchmarks/bench_training.py --device "$DEVICE" --k 8,32,64 \
    --json "$OUT/training.json" | tee "$OUT/training.txt"
