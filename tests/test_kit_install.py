"""The participant library installs from its own folder and imports without ``generator/``.

Participants get ``starting_kit/`` alone (inside the data archive), so the kit must not import
anything from the organizer's package; pip installs a copy into a fresh target folder and an
isolated interpreter (no current directory, no PYTHONPATH, no user site) imports it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import importlib.util, sys
sys.path.insert(0, sys.argv[1])
assert importlib.util.find_spec("generator") is None, "generator is importable: test is void"
import micokit, micokit.loading, micokit.attacks, micokit.submission, micokit.cli
assert micokit.__file__.startswith(sys.argv[1]), micokit.__file__
assert "generator" not in sys.modules
assert not any(name.startswith("generator.") for name in sys.modules)
print("ok", micokit.__version__)
"""


def test_kit_installs_and_imports_without_the_generator(tmp_path):
    source = tmp_path / "starting_kit"
    shutil.copytree(
        REPO / "starting_kit",
        source,
        ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"),
    )
    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr
    assert (target / "micokit" / "attacks.py").is_file()
    probe = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, str(target)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("ok")
