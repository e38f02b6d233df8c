"""How long the command-line tools take to answer ``--help`` and ``--version``.

An organizer or participant types ``--help`` first; it should answer at once (target: under
0.5 s), which means torch, transformers and the rest are imported only by the commands that use
them. Each figure is the median of ``--repeat`` separate processes, timed from spawn to exit
(interpreter start included), side by side with a bare ``python -c pass`` on the same machine.

Usage: ``.venv/bin/python benchmarks/bench_cli_startup.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass (interpreter alone)": ["-c", "pass"],
    "python -m generator --help": ["-m", "generator", "--help"],
    "python -m generator --version": ["-m", "generator", "--version"],
    "python -m micokit --help": ["-m", "micokit", "--help"],
    "python -m micokit --version": ["-m", "micokit", "--version"],
}
TARGET_S = 0.5


def seconds(args: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {result.returncode}: {result.stderr[-300:]!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat
    print(f"median of {repeat} runs each, {sys.executable}")
    for label, args in COMMANDS.items():
        seconds(args)  # warm the file cache
        median = statistics.median(seconds(args) for _ in range(repeat))
        verdict = "" if args[0] == "-c" else ("  ok" if median < TARGET_S else "  OVER 0.5 s")
        print(f"{label:<38} {median:6.3f} s{verdict}")


if __name__ == "__main__":
    main()
