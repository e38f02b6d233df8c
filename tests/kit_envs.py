"""Fresh virtual environments with the starting kit installed the way a participant installs it.

The kit's ``requires-python`` floor and its newest ``Programming Language :: Python`` classifier
name the two interpreters it must really work on. Each gets a venv built from scratch by
``pip install <kit> -c <constraints>``: pip resolves the kit's declared dependencies itself, so a
dependency the kit (or one of its own dependencies, like safetensors 0.7's undeclared
``packaging``) imports without declaring fails the run instead of hiding behind the organizer's
venv. ``tests/kit-minimum.txt`` pins every dependency at the kit's declared minimum; the newest
environment pins only torch (to the release the project uses) and takes the newest of the rest.

A venv is reused while the kit's ``pyproject.toml``, the constraints file and the interpreter
are unchanged (the key in ``.stamp``); the kit's own code is reinstalled (``--no-deps``) by each
test run. Building the newest environment downloads PyTorch's Linux wheel and its CUDA libraries
from PyPI (about 3 GB: PyPI has no CPU-only Linux build), so ``tests/conftest.py`` starts the
builds in the background when the session starts and the test waits for them.

Run as ``python tests/kit_envs.py LABEL`` to build one environment (what the background job does).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "starting_kit"
CACHE = ROOT / ".venv-kit"
CONSTRAINTS = {
    "minimum": ROOT / "tests" / "kit-minimum.txt",
    "newest": ROOT / "tests" / "kit-newest.txt",
}
PIP = ("-m", "pip", "--disable-pip-version-check", "--no-input")


def kit_metadata() -> dict:
    with (KIT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]


def supported_versions() -> dict[str, tuple[int, int]]:
    """``{"minimum": (3, m), "newest": (3, n)}`` from the kit's own declarations."""
    project = kit_metadata()
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", project["requires-python"].strip())
    if floor is None:
        raise ValueError(
            f"starting_kit/pyproject.toml: requires-python {project['requires-python']!r} is not '>=X.Y'"
        )
    listed = [
        tuple(map(int, m.groups()))
        for c in project.get("classifiers", [])
        if (m := re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c))
    ]
    if not listed:
        raise ValueError(
            "starting_kit/pyproject.toml: no 'Programming Language :: Python :: X.Y' classifier"
        )
    return {"minimum": (int(floor[1]), int(floor[2])), "newest": max(listed)}


def find_python(version: tuple[int, int]) -> Path | None:
    """An interpreter of exactly ``version``: pyenv's newest patch release, else ``pythonX.Y`` on PATH."""
    name = f"python{version[0]}.{version[1]}"
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(
        Path(root, "versions").glob(f"{version[0]}.{version[1]}.*/bin/{name}"),
        key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.parts[-3])),
    )
    found = candidates[-1] if candidates else shutil.which(name)
    return Path(found) if found else None


@dataclass(frozen=True)
class KitEnv:
    label: str
    version: tuple[int, int]
    python: Path | None

    @property
    def folder(self) -> Path:
        return CACHE / self.label

    @property
    def bin(self) -> Path:
        return self.folder / "bin"

    @property
    def log(self) -> Path:
        return CACHE / f"{self.label}.log"

    def key(self) -> str:
        digest = hashlib.sha256()
        digest.update((KIT / "pyproject.toml").read_bytes())
        digest.update(CONSTRAINTS[self.label].read_bytes())
        digest.update(str(self.python).encode())
        return digest.hexdigest()

    def is_current(self) -> bool:
        stamp = self.folder / ".stamp"
        return stamp.is_file() and stamp.read_text().strip() == self.key()


def kit_envs() -> list[KitEnv]:
    return [KitEnv(label, v, find_python(v)) for label, v in supported_versions().items()]


def copy_kit(target: Path) -> Path:
    """The kit's source as a participant's archive holds it (no build leftovers from ``-e``)."""
    shutil.copytree(
        KIT, target, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build")
    )
    return target


def build(env: KitEnv) -> None:
    """Build ``env`` from scratch unless current; the stamp, written last, marks it complete.

    A build killed half-way leaves no stamp, so the next one starts over; a lock file keeps
    two test sessions from building the same folder at once.
    """
    CACHE.mkdir(exist_ok=True)
    with (CACHE / f"{env.label}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if env.is_current():
            return
        shutil.rmtree(env.folder, ignore_errors=True)
        subprocess.run([str(env.python), "-m", "venv", str(env.folder)], check=True)
        with tempfile.TemporaryDirectory() as tmp:
            source = copy_kit(Path(tmp) / "starting_kit")
            install = ["install", "--quiet", "-c", str(CONSTRAINTS[env.label]), str(source)]
            subprocess.run([str(env.bin / "python"), *PIP, *install], check=True)
        (env.folder / ".stamp").write_text(env.key() + "\n")


_BUILDS: dict[str, subprocess.Popen] = {}


def start_builds() -> None:
    """Start building every missing or outdated environment in the background, once per session."""
    for env in kit_envs():
        if env.python is None or env.label in _BUILDS or env.is_current():
            continue
        CACHE.mkdir(exist_ok=True)
        with env.log.open("w") as log:
            _BUILDS[env.label] = subprocess.Popen(
                [sys.executable, __file__, env.label],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: os.nice(19),  # the test suite's CPU comes first
            )


def wait_for(env: KitEnv, timeout: float = 1800) -> str | None:
    """None once ``env`` is built, else why it is not (the build log's last lines)."""
    start_builds()
    build_process = _BUILDS.get(env.label)
    if build_process is not None and build_process.wait(timeout) != 0:
        tail = env.log.read_text(errors="replace").strip().splitlines()[-15:]
        return f"building {env.folder} failed (log: {env.log}):\n" + "\n".join(tail)
    return None if env.is_current() else f"{env.folder} was not built (log: {env.log})"


if __name__ == "__main__":
    (chosen,) = [e for e in kit_envs() if e.label == sys.argv[1]]
    build(chosen)
