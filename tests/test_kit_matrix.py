"""The starting kit installs and runs on its minimum and its newest supported Python.

Each interpreter gets a venv where pip resolved the kit's declared dependencies on its own
(``tests/kit_envs.py``): at their declared floors on the minimum Python, at their newest on the
newest Python. In it, from an empty folder and with nothing of the organizer's on the path, a
participant's first steps on the published archive must work: ``--version``, ``info``,
``attack loss`` and ``validate``.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.kit_envs import CONSTRAINTS, PIP, copy_kit, kit_envs, wait_for

ENVS = {env.label: env for env in kit_envs()}
VERSION_PROBE = (
    "import sys, numpy, torch, safetensors, packaging, micokit; "
    "print(f'{sys.version_info[0]}.{sys.version_info[1]}', numpy.__version__, "
    "torch.__version__.split('+')[0], safetensors.__version__, packaging.__version__)"
)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def _pins(label: str) -> dict[str, str]:
    text = CONSTRAINTS[label].read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))


@pytest.mark.parametrize("label", sorted(ENVS))
def test_kit_installs_and_runs_on_its_supported_python(label, bundles, tmp_path):
    env = ENVS[label]
    wanted = "{}.{}".format(*env.version)
    if env.python is None:
        pytest.skip(f"no Python {wanted} here (pyenv, or python{wanted} on PATH)")
    problem = wait_for(env)
    assert problem is None, problem
    python, micokit = str(env.bin / "python"), str(env.bin / "micokit")

    # The kit's code as it is now, over the dependencies pip chose for its pyproject.toml.
    source = copy_kit(tmp_path / "starting_kit")
    install = [python, *PIP, "install", "--quiet", "--no-deps", "--force-reinstall", str(source)]
    installed = _run(install, tmp_path)
    assert installed.returncode == 0, installed.stderr
    consistent = _run([python, *PIP, "check"], tmp_path)
    assert consistent.returncode == 0, consistent.stdout + consistent.stderr

    versions = _run([python, "-I", "-c", VERSION_PROBE], tmp_path)
    assert versions.returncode == 0, versions.stderr
    py, numpy, torch, safetensors, packaging = versions.stdout.split()
    assert py == wanted
    found = {"numpy": numpy, "torch": torch, "safetensors": safetensors, "packaging": packaging}
    for name, version in _pins(label).items():
        assert found[name] == version, f"{label}: {name} {found[name]} installed, {version} pinned"

    # The participant archive as published: task folder, starting kit and scoring program.
    public = tmp_path / "archive"
    with zipfile.ZipFile(bundles / "image-data.zip") as archive:
        archive.extractall(public)
    shown = _run([micokit, "--version"], tmp_path)
    assert shown.returncode == 0 and re.search(r"\d+\.\d+", shown.stdout + shown.stderr)
    info = _run([micokit, "info", "--data", str(public), "--task", "image"], tmp_path)
    assert info.returncode == 0, info.stderr
    assert "image_inf" in info.stdout
    submission = tmp_path / "submission.zip"
    attack = [micokit, "attack", "loss", "--data", str(public), "--task", "image"]
    attacked = _run([*attack, "--out", str(submission)], tmp_path)
    assert attacked.returncode == 0, attacked.stderr
    assert submission.is_file()
    valid = _run(
        [micokit, "validate", str(submission), "--data", str(public), "--task", "image"], tmp_path
    )
    assert valid.returncode == 0, valid.stderr
