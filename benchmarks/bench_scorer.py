"""Benchmark of the scoring program against a straightforward baseline, end to end.

Every figure includes interpreter start: each run is a separate process, timed from spawn to
exit, with its peak memory from the kernel's accounting of that one child (``os.wait4``).

* MICO-sized: 3 scenarios x (50 dev + 50 final) models x 200 challenge points, dev phase
  scored (the scorer also validates the final part; the baseline reads only the dev files,
  as MICO's scorer did).
* Stress: one scenario of 100 models x 100,000 points = 10 million predictions.
* Baseline: per-file ``np.loadtxt`` and scikit-learn's ``roc_curve``/``auc``.
* "with plots" includes detailed_results.html with its inline SVG ROC charts (drawn by the
  scorer itself, no plotting library); the benchmark checks that every scenario got one.

Usage: ``.venv/bin/python benchmarks/bench_scorer.py [--repeat N] [--skip-stress]``
(a couple of minutes on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCORE_PY = REPO / "scoring_program" / "score.py"
TASK = "image"

BASELINE = r"""
import json, sys
from pathlib import Path
import numpy as np
from sklearn.metrics import auc, roc_curve

ref, res = Path(sys.argv[1]), Path(sys.argv[2])
manifest = json.loads((ref / "manifest.json").read_text())
task, phase = manifest["task"], manifest["phase"]
result = {}
for k, scenario in enumerate(manifest["scenarios"], 1):
    labels, scores = [], []
    for model in scenario["models"][phase]:
        rel = Path(task, scenario["id"], phase, model)
        labels.append(np.loadtxt(ref / rel / "solution.csv", ndmin=1))
        scores.append(np.loadtxt(res / rel / "prediction.csv", ndmin=1))
    fpr, tpr, _ = roc_curve(np.concatenate(labels), np.concatenate(scores))
    for alpha in (0.001, 0.01, 0.05, 0.1, 0.15, 0.2):
        result[f"scenario{k}_TPR_FPR_{round(alpha * 1e4)}"] = float(np.max(tpr[fpr <= alpha]))
    result[f"scenario{k}_AUC"] = float(auc(fpr, tpr))
print(json.dumps(result))
"""


# --- data ------------------------------------------------------------------------------------


def fixed_width_scores(values: np.ndarray) -> bytes:
    """'0.dddddd\\n' per value, formatted by numpy (fast enough for 10 million values)."""
    digits = (values[:, None] // 10 ** np.arange(5, -1, -1)) % 10 + ord("0")
    records = np.empty((values.size, 9), dtype=np.uint8)
    records[:, 0], records[:, 1], records[:, 8] = ord("0"), ord("."), ord("\n")
    records[:, 2:8] = digits
    return records.tobytes()


def build(root: Path, scenarios: int, phases: dict[str, int], points: int, seed: int) -> None:
    """reference/ (dev solutions + manifest), res/ (expanded submission), submission.zip."""
    rng = np.random.default_rng(seed)
    manifest = {"format": "mico-reference/1", "task": TASK, "phase": "dev", "scenarios": []}
    with zipfile.ZipFile(root / "submission.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for s in range(scenarios):
            sid = f"{TASK}_{s}"
            models = {p: {f"model_{i}": points for i in range(n)} for p, n in phases.items()}
            manifest["scenarios"].append({"id": sid, "label": sid, "delta": 1e-5, "models": models})
            for phase, count in phases.items():
                for i in range(count):
                    rel = Path(TASK, sid, phase, f"model_{i}")
                    labels = rng.integers(0, 2, points)
                    noise = rng.normal(0.5, 0.2, points) + 0.1 * (2 * labels - 1)
                    values = np.clip(np.round(noise * 1e6), 0, 999_999).astype(np.int64)
                    data = fixed_width_scores(values)
                    (root / "res" / rel).mkdir(parents=True)
                    (root / "res" / rel / "prediction.csv").write_bytes(data)
                    archive.writestr(str(rel / "prediction.csv"), data)
                    if phase == "dev":
                        (root / "reference" / rel).mkdir(parents=True)
                        solution = np.where(labels == 1, b"1\n", b"0\n")
                        (root / "reference" / rel / "solution.csv").write_bytes(b"".join(solution))
    (root / "reference" / "manifest.json").write_text(json.dumps(manifest))


# --- measuring ---------------------------------------------------------------------------------


# A small, fresh process spawns the measured one: a child's peak RSS includes the memory of the
# process it was forked from, so forking from this (large) benchmark process would inflate it.
WRAPPER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"wall": wall, "peak_kib": peak, "status": proc.returncode,
                  "out": proc.stdout.decode(), "err": proc.stderr.decode()[-2000:]}))
"""


def measure_child(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process, from spawn to exit."""
    wrapped = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], cwd=cwd, capture_output=True, text=True
    )
    report = json.loads(wrapped.stdout)
    if report["status"] != 0:
        raise SystemExit(f"{argv[:3]} failed ({report['status']}):\n{report['err']}")
    return report["wall"], report["peak_kib"] / 1024, report["out"]


def repeated(argv: list[str], cwd: Path, repeat: int) -> tuple[float, float, str]:
    runs = [measure_child(argv, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def scorer_scores(stdout: str) -> dict[str, float]:
    lines = stdout.splitlines()[1:]
    return {k: float(v) for k, v in (line.split(":") for line in lines)}


def compare(label: str, scorer_out: str, baseline_out: str) -> str:
    ours, theirs = scorer_scores(scorer_out), json.loads(baseline_out)
    worst = max(abs(ours[k] - v) for k, v in theirs.items())
    return f"  {label}: largest |scorer - baseline| over {len(theirs)} shared scores = {worst:.2e}"


def line(name: str, wall: float, peak: float) -> str:
    return f"  {name:<46} {wall:7.3f} s   peak RSS {peak:7.1f} MiB"


def bench(root: Path, title: str, repeat: int, plots_too: bool) -> None:
    py = sys.executable
    baseline_py = root / "baseline.py"
    baseline_py.write_text(BASELINE)
    (root / "out").mkdir(exist_ok=True)
    (root / "input").mkdir(exist_ok=True)
    for name in ("ref", "res"):
        link = root / "input" / name
        if not link.exists():
            link.symlink_to(root / ("reference" if name == "ref" else "res"))
    print(title)
    rows = []
    if plots_too:
        rows.append(("scorer, platform mode, with plots", [py, str(SCORE_PY), "input", "out"]))
    rows.append(
        ("scorer, platform mode, --no-plots", [py, str(SCORE_PY), "input", "out", "--no-plots"])
    )
    rows.append(
        (
            "scorer, local mode (zip), --no-plots",
            [
                py,
                str(SCORE_PY),
                "--submission",
                "submission.zip",
                "--reference",
                "reference",
                "--no-plots",
            ],
        )
    )
    scenarios = len(json.loads((root / "reference" / "manifest.json").read_text())["scenarios"])
    results = {}
    for name, argv in rows:
        results[name] = repeated(argv, root, repeat)
        print(line(name, *results[name][:2]))
        if argv[-1] == "out":  # the timed run really drew the plots: one inline SVG per scenario
            page = (root / "out" / "detailed_results.html").read_text(encoding="utf-8")
            if page.count("<svg") != scenarios:
                raise SystemExit(f"{name}: expected {scenarios} <svg> charts in the page")
    base = repeated([py, str(baseline_py), "reference", "res"], root, repeat)
    print(line("baseline: per-file np.loadtxt + sklearn roc_curve", *base[:2]))
    for name, (wall, peak, _) in results.items():
        print(
            f"  ratio baseline / {name}: {base[0] / wall:.1f}x time, {base[1] / peak:.2f}x memory"
        )
    print(compare("agreement", results["scorer, platform mode, --no-plots"][2], base[2]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--skip-stress", action="store_true")
    args = parser.parse_args()
    import sklearn

    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, sklearn {sklearn.__version__}")
    print(f"{os.cpu_count()} CPUs; every figure includes interpreter start (median of runs)")
    with tempfile.TemporaryDirectory() as tmp:
        mico = Path(tmp, "mico")
        mico.mkdir()
        build(mico, scenarios=3, phases={"dev": 50, "final": 50}, points=200, seed=1)
        bench(
            mico,
            "MICO-sized: 3 scenarios x (50 dev + 50 final) models x 200 points, dev scored",
            args.repeat,
            plots_too=True,
        )
        if args.skip_stress:
            return
        stress = Path(tmp, "stress")
        stress.mkdir()
        started = time.perf_counter()
        build(stress, scenarios=1, phases={"dev": 100}, points=100_000, seed=2)
        print(f"(stress data written in {time.perf_counter() - started:.1f} s)")
        bench(
            stress,
            "Stress: 1 scenario x 100 models x 100,000 points = 10,000,000 predictions",
            1,
            plots_too=True,
        )


if __name__ == "__main__":
    main()
