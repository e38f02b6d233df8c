"""Benchmark: DP-SGD MLP models per minute, Opacus (hooks, ghost) vs the batched trainer.

Every trainer trains whole models end to end as the store would call it — initial weights,
Poisson batches, clipping, noise, optimizer steps, evaluation — on the same synthetic
Purchase-100-shaped data (generator.build.datasets.synthetic_purchase, 600 binary features, 100
classes) and the demo preset's tabular DP scenario (MicoMLP 600 → 128 → 100, tanh, Adam,
C = 2.6, ε = 4), with two sizes:

- ``demo``: the demo preset as it is (n = 1000 training points, batch 128: q = 1/8);
- ``mico``: MICO-sized batches (batch 512) on a larger training set (``--rows``, default
  15000: q = 1/30, expected batch 500).

Opacus runs go through :func:`generator.build.training.train_model` (grad_sample_mode ``hooks`` or
``ghost``), one model at a time; the batched trainer through
:func:`generator.build.batched.train_mlps_batched` with K models at once. σ and ε are computed once
before timing (both trainers share the cached accountant calls), so the figures are training
cost. Repeats are interleaved and medians reported, so that load from other jobs on a shared
machine falls on all trainers alike; the load average is printed with the table.

Both wall time and the process's CPU time (``time.process_time``, all threads) are reported:
on a machine shared with other jobs the wall time of a run depends on what else runs, while
CPU time with ``--threads 1`` counts only this process's work (with more threads, idle
spinning of torch's worker threads counts too).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the peak resident set
size above the level before the run, sampled every 2 ms from /proc/self/statm (tracemalloc
does not see torch's allocations, and ru_maxrss only ever grows).

``batched autograd`` is the batched trainer with the clipped sum taken by a second, weighted
backward pass instead of book-keeping (``method="autograd"``).

Usage: ``.venv/bin/python benchmarks/bench_training.py [--device auto] [--k 8,32,64]
[--shapes demo,mico] [--rows 15000] [--epochs 1] [--repeats 3] [--group G] [--json PATH]``
(about a minute on an idle 2-core CPU with the defaults, several on a busy one).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generator.build.batched import train_mlps_batched  # noqa: E402
from generator.build.datasets import synthetic_purchase  # noqa: E402
from generator.build.training import (  # noqa: E402
    achieved_epsilon,
    noise_multiplier,
    pick_device,
    train_model,
)
from generator.spec.presets import load_preset  # noqa: E402

EVAL_ROWS = 500


class PeakMemory:
    """Peak memory of a block: CUDA allocator peak, or sampled RSS above the starting level."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mb = 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._base, self._peak, self._stop = self._rss(), 0, threading.Event()

        def sample():
            while not self._stop.wait(0.002):
                self._peak = max(self._peak, self._rss())

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())
        self.peak_mb = max(self._peak - self._base, 0) / 2**20


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS, so that an RSS rise is this run's own peak.

    Without it, a run reusing memory an earlier run left resident shows no rise at all.
    """
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def setups(rows: int, epochs: int):
    """(name, scenario, data, n) per shape, from the demo preset's tabular_lo scenario."""
    base = load_preset(REPO / "presets" / "demo.yaml").task("tabular").scenario("tabular_lo")
    demo_data = synthetic_purchase(4000, 20230208)
    mico_data = synthetic_purchase(rows + 5000, 20230208)
    out = {}
    for name, data, n, batch in (("demo", demo_data, 1000, 128), ("mico", mico_data, rows, 512)):
        training = dataclasses.replace(base.training, batch_size=batch, epochs=epochs)
        out[name] = (dataclasses.replace(base, n=n, training=training), data, n)
    return out


def make_runs(data, n: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(count):
        order = rng.permutation(len(data))
        runs.append((order[:n], order[n : n + EVAL_ROWS], 1000 + seed * 100 + i))
    return runs


def warm_caches(scenario, n: int) -> int:
    """Compute σ and ε once (cached in training) so that timings are training only."""
    spec = scenario.training
    batches = -(-n // spec.batch_size)
    q, steps = 1 / batches, spec.epochs * batches
    sigma = noise_multiplier(scenario.epsilon, scenario.delta, q, steps)
    achieved_epsilon(((sigma, q, int(1 / q) * spec.epochs),), scenario.delta)
    return int(1 / q) * spec.epochs


def time_trainer(kind: str, k: int, scenario, data, n: int, device, repeat: int, group=None):
    """Wall time, process CPU time and peak memory of training ``k`` models with one trainer."""
    runs = make_runs(data, n, k, repeat)
    release_free_memory()
    with PeakMemory(device) as memory:
        started, cpu_started = time.perf_counter(), time.process_time()
        if kind.startswith("opacus"):
            mode = kind.split()[1]
            spec = dataclasses.replace(
                scenario, training=dataclasses.replace(scenario.training, grad_sample_mode=mode)
            )
            for training, evaluation, seed in runs:
                train_model(spec, data, training, evaluation, seed, device)
        else:
            method = "autograd" if "autograd" in kind else "bookkeeping"
            trained = train_mlps_batched(scenario, data, runs, device, method, group)
            assert all(t.metadata["non_finite"] is None for t in trained)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall, cpu, memory.peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--k", default="8,32", help="models per batched run, e.g. 8,32,64")
    parser.add_argument("--shapes", default="demo,mico")
    parser.add_argument("--rows", type=int, default=15000, help="mico shape: training-set size")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hooks-models", type=int, default=1, help="models per hooks timing")
    parser.add_argument("--ghost-models", type=int, default=2, help="models per ghost timing")
    parser.add_argument(
        "--autograd-k", type=int, default=8, help="K for the 2nd-backward variant (0: skip)"
    )
    parser.add_argument("--group", type=int, help="batched: models per stack (default: all K)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    ks = [int(k) for k in args.k.split(",") if k]
    load_before = os.getloadavg()
    all_setups = setups(args.rows, args.epochs)
    results = []
    for shape in args.shapes.split(","):
        scenario, data, n = all_setups[shape]
        steps = warm_caches(scenario, n)
        trainers = [("opacus hooks", args.hooks_models), ("opacus ghost", args.ghost_models)]
        trainers += [("batched", k) for k in ks]
        if args.autograd_k:
            trainers.append(("batched autograd", args.autograd_k))
        times: dict[tuple[str, int], list[float]] = {t: [] for t in trainers}
        cpus: dict[tuple[str, int], list[float]] = {t: [] for t in trainers}
        peaks: dict[tuple[str, int], float] = {t: 0.0 for t in trainers}
        time_trainer("batched", 2, scenario, data, n, device, 99)  # warm-up: kernels, allocator
        for repeat in range(args.repeats):
            for kind, k in trainers:
                wall, cpu, peak = time_trainer(
                    kind, k, scenario, data, n, device, repeat, args.group
                )
                times[(kind, k)].append(wall)
                cpus[(kind, k)].append(cpu)
                peaks[(kind, k)] = max(peaks[(kind, k)], peak)
                print(
                    f"  {shape} {kind} K={k} #{repeat}: {wall:.2f} s, cpu {cpu:.2f} s",
                    file=sys.stderr,
                )
        wall_per = {t: statistics.median(v) / t[1] for t, v in times.items()}
        cpu_per = {t: statistics.median(v) / t[1] for t, v in cpus.items()}
        hooks, ghost = trainers[0], trainers[1]
        for kind, k in trainers:
            w, c = wall_per[(kind, k)], cpu_per[(kind, k)]
            results.append(
                {
                    "shape": shape,
                    "trainer": kind,
                    "models_per_run": k,
                    "n": n,
                    "batch_size": scenario.training.batch_size,
                    "steps_per_model": steps,
                    "median_wall_s": statistics.median(times[(kind, k)]),
                    "models_per_minute": 60 / w,
                    "model_steps_per_s": steps / w,
                    "speedup_vs_ghost": wall_per[ghost] / w,
                    "speedup_vs_hooks": wall_per[hooks] / w,
                    "cpu_s_per_model": c,
                    "cpu_speedup_vs_ghost": cpu_per[ghost] / c,
                    "cpu_speedup_vs_hooks": cpu_per[hooks] / c,
                    "peak_memory_mb": peaks[(kind, k)],
                }
            )
    load_after = os.getloadavg()
    header = (
        f"{'shape':5} {'trainer':16} {'K':>3} {'wall s':>7} {'models/min':>10} "
        f"{'model-steps/s':>13} {'vs ghost':>8} {'vs hooks':>8} {'cpu s/model':>11} "
        f"{'cpu vs ghost':>12} {'cpu vs hooks':>12} {'peak MB':>8}"
    )
    print(f"device {device}, torch threads {torch.get_num_threads()}, repeats {args.repeats}")
    print(header)
    for r in results:
        print(
            f"{r['shape']:5} {r['trainer']:16} {r['models_per_run']:>3} {r['median_wall_s']:>7.2f} "
            f"{r['models_per_minute']:>10.1f} {r['model_steps_per_s']:>13.1f} "
            f"{r['speedup_vs_ghost']:>7.1f}x {r['speedup_vs_hooks']:>7.1f}x "
            f"{r['cpu_s_per_model']:>11.3f} {r['cpu_speedup_vs_ghost']:>11.1f}x "
            f"{r['cpu_speedup_vs_hooks']:>11.1f}x {r['peak_memory_mb']:>8.0f}"
        )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    if args.json:
        meta = {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "load_before": load_before,
            "load_after": load_after,
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
