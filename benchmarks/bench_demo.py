"""Demo calibration over several fresh builds: does every promise of the demo hold every time?

Each build generates the preset into a new store under its own master seed (new splits, new
training randomness), then writes every task's calibration report (generator/publish/calibration.py: the
starting kit's attacks on the train models, scored with the scorer's code, 95% model-bootstrap
intervals). Per scenario and build it prints mean test accuracy and each attack's TPR@0.1 with
its interval, names the strongest attack, and lists the report's flags; the last table gives
medians over the builds and whether RMIA beat LiRA offline. Generation wall time per build is
printed too (``make bundle``'s own time is measured on a fresh clone, see the note).

    .venv/bin/python benchmarks/bench_demo.py [--builds 3] [--preset demo] [--tasks image,text]
        [--json out.json] [--keep DIR]
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
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.publish.calibration import ATTACK_TITLES, build_report  # noqa: E402
from generator.spec.presets import load_preset  # noqa: E402


def build(preset: str, store: Path, seed: str, tasks: list[str] | None) -> float:
    """Generate ``preset`` into ``store`` in reproducible mode under ``seed``; wall seconds."""
    command = [sys.executable, "-m", "generator", "generate", "--preset", preset]
    command += ["--store", str(store), "--quiet"]
    if tasks:
        command += ["--tasks", ",".join(tasks)]
    started = time.perf_counter()
    env = dict(os.environ, MICO_MASTER_SEED=seed)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def interval(entry: dict, attack: str) -> str:
    figures = entry[attack]
    lo, hi = figures["intervals"]["tpr_at_fpr_0.1"]
    return f"{figures['tpr_at_fpr_0.1']:.3f} [{lo:.2f},{hi:.2f}]"


def print_build(number: int, entries: dict[str, dict]) -> None:
    head = f"{'build':>5} {'scenario':<13}{'acc':>7}" + "".join(
        f"{attack:>20}" for attack in ATTACK_TITLES
    )
    print(head + "  strongest")
    for sid, entry in entries.items():
        row = f"{number:>5} {sid:<13}{entry['test_accuracy_mean']:>7.3f}"
        row += "".join(f"{interval(entry, attack):>20}" for attack in ATTACK_TITLES)
        print(row + f"  {entry['strongest_attack']}")
        for flag in entry["flags"]:
            print(f"      flag: {flag}")


def print_medians(builds: list[dict[str, dict]]) -> None:
    print(f"\nmedians over {len(builds)} builds (TPR@0.1 on train models)")
    print(
        f"{'scenario':<13}{'acc':>7}"
        + "".join(f"{a:>13}" for a in ATTACK_TITLES)
        + f"{'rmia>lira':>11}{'flags':>7}"
    )
    for sid in builds[0]:
        entries = [b[sid] for b in builds]
        row = f"{sid:<13}{median(e['test_accuracy_mean'] for e in entries):>7.3f}"
        for attack in ATTACK_TITLES:
            row += f"{median(e[attack]['tpr_at_fpr_0.1'] for e in entries):>13.3f}"
        wins = sum(e["rmia"]["tpr_at_fpr_0.1"] > e["lira"]["tpr_at_fpr_0.1"] for e in entries)
        row += f"{f'{wins}/{len(entries)}':>11}{sum(len(e['flags']) for e in entries):>7}"
        print(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=3)
    parser.add_argument("--preset", default="demo", help="preset name or YAML path")
    parser.add_argument("--tasks", help="comma-separated task ids (default: all)")
    parser.add_argument("--json", help="write every build's report entries here")
    parser.add_argument("--keep", help="keep the stores and reports under this folder")
    args = parser.parse_args()
    preset = load_preset(args.preset)
    tasks = args.tasks.split(",") if args.tasks else None
    chosen = [t for t in preset.tasks if tasks is None or t.id in tasks]
    builds: list[dict[str, dict]] = []
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(args.keep or scratch)
        for number in range(1, args.builds + 1):
            store, out = base / f"build{number}" / "store", base / f"build{number}" / "reports"
            seconds = build(args.preset, store, f"bench-demo-{number}", tasks)
            print(f"\nbuild {number}: generated in {seconds:.1f} s")
            entries: dict[str, dict] = {}
            for task in chosen:
                _, json_path = build_report(preset, task, store, out)
                entries.update(json.loads(json_path.read_text(encoding="utf-8")))
            print_build(number, entries)
            builds.append(entries)
    print_medians(builds)
    if args.json:
        Path(args.json).write_text(json.dumps(builds, indent=1) + "\n", encoding="utf-8")
    flags = sum(len(e["flags"]) for b in builds for e in b.values())
    print(f"\n{flags} flag(s) over {len(builds)} builds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
