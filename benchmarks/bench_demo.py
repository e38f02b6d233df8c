"""Demo generation: wall time on this machine, and the membership signal it produces.

Generates the whole `demo` preset (4 tasks × 3 scenarios, 8/4/4 models) into a fresh store with
the default executor, prints the wall time and the mean per-model training time per scenario,
exports it, and runs the loss-threshold baseline (and LiRA offline, held out) over the train
models of every scenario. Acceptance figures for the generator issue:
generation ≤ 10 minutes on 2 cores; ε = ∞ clearly above low ε for the loss attack, shown per
task as the gap in loss TPR@0.1 with a 95% interval from resampling train models.

    .venv/bin/python benchmarks/bench_demo.py [--store DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="reuse or fill this store instead of a temporary one")
    parser.add_argument("--workers", help="local pool size (default: CPU cores)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        store = Path(args.store or Path(scratch) / "store")
        command = [
            sys.executable,
            "-m",
            "generator",
            "generate",
            "--preset",
            "demo",
            "--store",
            str(store),
            "--quiet",
        ]
        if args.workers:
            command += ["--workers", args.workers]
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True)
        elapsed = time.perf_counter() - started
        print(f"demo generation: {elapsed:.1f} s wall ({' '.join(command[1:])})")
        public, reference = Path(scratch) / "public", Path(scratch) / "reference"
        subprocess.run(
            [sys.executable, "-m", "generator", "export", "--preset", "demo", "--store", str(store),
             "--public", str(public), "--reference", str(reference)],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        from micokit.attacks import run_attacks
        from micokit.loading import open_task

        print(
            f"{'scenario':<14}{'model s':>8}{'test acc':>9}{'ε':>7}{'loss TPR@0.1':>14}{'LiRA TPR@0.1':>14}"
        )
        for task_dir in sorted(p for p in public.iterdir() if p.is_dir()):
            task = open_task(public, task_dir.name)
            results = run_attacks(task, ("loss", "lira"), phases=(), device="cpu")
            for scenario in task.scenarios:
                metas = [
                    json.loads(p.read_text())
                    for p in store.glob(f"{task.id}/{scenario.id}/*/*/metadata.json")
                ]
                eps = metas[0]["epsilon_achieved"]
                print(
                    f"{scenario.id:<14}{mean(m['wall_time_s'] for m in metas):>8.2f}"
                    f"{mean(m['test_accuracy'] for m in metas):>9.3f}{'∞' if eps is None else f'{eps:.2f}':>7}"
                    f"{results['loss'].train_metrics[scenario.id]['TPR_FPR_1000']:>14.3f}"
                    f"{results['lira'].train_metrics[scenario.id]['TPR_FPR_1000']:>14.3f}"
                )
            gap_line(task, results["loss"])
    return 0


def gap_line(task, result, rounds: int = 2000) -> None:
    """Print loss TPR@0.1 at ε = ∞ minus the task's lowest ε, with a model-bootstrap interval.

    Whole train models are resampled, not points: a model's points share one training run, and
    with eight models per scenario the run-to-run spread is the larger part of the uncertainty.
    """
    import scorer_metrics  # on sys.path once run_attacks has loaded the scoring program

    finite = [s for s in task.scenarios if s.epsilon is not None]
    plain = [s for s in task.scenarios if s.epsilon is None]
    if not plain or not finite:
        return
    high, low = plain[0], min(finite, key=lambda s: s.epsilon)
    rng = np.random.default_rng(0)

    def per_model(scenario):
        scores = list(result.predictions[scenario.id]["train"].values())
        labels = np.split(
            result.train_labels[scenario.id], np.cumsum([len(s) for s in scores])[:-1]
        )
        return list(zip(labels, scores, strict=True))

    def tpr(models, picks):
        labels = np.concatenate([models[i][0] for i in picks])
        scores = np.concatenate([models[i][1] for i in picks])
        return scorer_metrics.tpr_at_fpr(labels, scores, 0.1)

    a, b = per_model(high), per_model(low)
    gap = tpr(a, range(len(a))) - tpr(b, range(len(b)))
    draws = [
        tpr(a, rng.integers(len(a), size=len(a))) - tpr(b, rng.integers(len(b), size=len(b)))
        for _ in range(rounds)
    ]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    print(
        f"{task.id}: loss TPR@0.1 {high.id} − {low.id} = {gap:+.3f} "
        f"(95% model-bootstrap interval {lo:+.3f} … {hi:+.3f})"
    )


if __name__ == "__main__":
    sys.exit(main())
