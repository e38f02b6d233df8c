"""Benchmark of the executors: demo generation with 1 worker vs the local pool vs Ray.

Each executor builds the same subset of the demo preset into its own empty temporary store,
one after the other in one run, in reproducible mode (so the stores must come out identical,
which is checked). Every figure is the wall time of a whole ``python -m generator generate``
process, interpreter and (for Ray) local cluster start included: what an organizer waits for.

Default subset: one scenario of each trained task, mixing plain and DP-SGD training —
``image_hi`` (CNN, DP), ``tabular_lo`` (MLP, DP) and ``text_inf`` (tiny RoBERTa) — with model
indices 0-1 of every phase: 3 scenarios x 3 phases x 2 = 18 models (about a tenth of the demo).

On a GPU machine, ``--packing 1,2,4 --preset mico --data-dir D --tasks image`` instead reports
models per hour for one task with 1, 2 and 4 models sharing each GPU (local pool).

Usage: ``.venv/bin/python benchmarks/bench_executors.py [--models 0-1] [--executors ...]``
(about 5 minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBSET = ["--tasks", "image,tabular,text", "--scenarios", "image_hi,tabular_lo,text_inf"]
EXECUTORS = {
    "1 worker": ["--executor", "inline"],
    "local pool": ["--executor", "local"],
    "ray (local cluster)": ["--executor", "ray"],
}
SEED = "bench-executors"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min)"


def snapshot(store: Path) -> dict[str, object]:
    """Every file by relative path; metadata.json without its wall time."""
    files: dict[str, object] = {}
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        if path.name == "metadata.json":
            meta = json.loads(path.read_text())
            meta.pop("wall_time_s", None)
            files[str(path.relative_to(store))] = meta
        else:
            files[str(path.relative_to(store))] = path.read_bytes()
    return files


def time_executor(args: list[str], store: Path, models: str, preset: str) -> float:
    command = [
        sys.executable,
        "-m",
        "generator",
        "generate",
        "--preset",
        preset,
        *SUBSET,
        "--models",
        models,
        "--store",
        str(store),
        "--quiet",
        *args,
    ]
    env = dict(os.environ, MICO_MASTER_SEED=SEED)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def compare_executors(options: argparse.Namespace) -> None:
    chosen = {name: EXECUTORS[name] for name in EXECUTORS if name.split()[0] in options.executors}
    print(f"machine: {os.cpu_count()} CPU cores; {load()}")
    print(f"subset: demo {' '.join(SUBSET)} --models {options.models}")
    times: dict[str, float] = {}
    stores: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-executors-") as tmp:
        for name, args in chosen.items():
            store = Path(tmp) / name.split()[0]
            times[name] = time_executor(args, store, options.models, options.preset)
            stores[name] = snapshot(store)
            count = sum(p.endswith("metadata.json") for p in stores[name])
            print(f"  {name:<20} {times[name]:7.1f} s  ({count} models)", flush=True)
    base = next(iter(times.values()))
    print("speed-up over the first:", ", ".join(f"{n} {base / t:.2f}x" for n, t in times.items()))
    reference = next(iter(stores.values()))
    same = all(files == reference for files in stores.values())
    print(f"stores identical across executors: {'yes' if same else 'NO'}; {load()}")


def compare_packing(options: argparse.Namespace) -> None:
    """Models per hour for one task with several models sharing each GPU (local pool)."""
    sys.path.insert(0, str(REPO))
    from generator.build.executors import gpu_count, run_models
    from generator.build.store import GenerationContext, select_models
    from generator.spec.presets import load_preset

    gpus = gpu_count()
    if not gpus:
        sys.exit("--packing needs a CUDA GPU; none is visible")
    preset = load_preset(options.preset)
    tasks = select_models(preset, tasks=options.tasks.split(","), indices=set(range(options.count)))
    print(f"{gpus} GPU(s); {len(tasks)} models of {options.tasks} per setting")
    for per_gpu in (int(v) for v in options.packing.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-packing-") as tmp:
            context = GenerationContext(
                str(preset.path), tmp, data_dir=options.data_dir, master_seed=SEED
            )
            started = time.perf_counter()
            summary = run_models(
                context, tasks, "local", gpus * per_gpu, show=False, models_per_gpu=per_gpu
            )
            elapsed = time.perf_counter() - started
        rate = len(summary.done) / elapsed * 3600
        print(f"  {per_gpu} model(s)/GPU: {elapsed:7.1f} s, {rate:8.0f} models/hour", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--models", default="0-1", help="model indices per phase (default 0-1)")
    parser.add_argument(
        "--executors", default="1,local,ray", help="subset of 1,local,ray (default: all)"
    )
    parser.add_argument("--packing", help="GPU mode: models per GPU to compare, e.g. 1,2,4")
    parser.add_argument("--tasks", default="image", help="GPU mode: task ids (default image)")
    parser.add_argument("--count", type=int, default=8, help="GPU mode: models per phase")
    parser.add_argument("--data-dir", help="GPU mode: the real datasets")
    options = parser.parse_args()
    options.executors = options.executors.split(",")
    (compare_packing if options.packing else compare_executors)(options)


if __name__ == "__main__":
    main()
