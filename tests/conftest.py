"""Shared fixtures: one tiny competition generated once per test session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from generator.spec.presets import load_preset

ROOT = Path(__file__).resolve().parent.parent
TINY_PRESET = ROOT / "tests" / "presets" / "tiny.yaml"
TINY_MASTER_SEED = "tests-master-seed"


def run_generator(*args: str, env_extra: dict[str, str] | None = None, check: bool = True):
    """Run ``python -m generator`` as an organizer would, from the repository root."""
    env = dict(os.environ, **(env_extra or {}))
    result = subprocess.run(
        [sys.executable, "-m", "generator", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"generator {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def generate_scenario(
    store: Path, scenario: list[str], *extra: str, preset: Path = TINY_PRESET, **kwargs
):
    """``generate`` of the ``--tasks``/``--scenarios`` choice ``scenario`` into ``store``, in
    reproducible mode unless ``env_extra`` says otherwise (the modules' ``generate`` helpers)."""
    env = kwargs.pop("env_extra", {"MICO_MASTER_SEED": TINY_MASTER_SEED})
    return run_generator(
        "generate",
        "--preset",
        str(preset),
        *scenario,
        "--store",
        str(store),
        "--quiet",
        *extra,
        env_extra=env,
        **kwargs,
    )


def snapshot(store: Path) -> dict[str, object]:
    """Every file of the store by relative path: bytes, or metadata without its wall time."""
    files: dict[str, object] = {}
    for path in sorted(p for p in store.rglob("*") if p.is_file()):
        if path.name == "metadata.json":
            meta = json.loads(path.read_text())
            meta.pop("wall_time_s")
            files[str(path.relative_to(store))] = meta
        else:
            files[str(path.relative_to(store))] = path.read_bytes()
    return files


KIT_MATRIX = "tests/test_kit_matrix.py"


def pytest_collection_modifyitems(items) -> None:
    """Run the starting kit's install-and-run tests last, when their venvs are most likely built."""
    items.sort(key=lambda item: item.nodeid.startswith(KIT_MATRIX))  # stable: others keep order


def pytest_collection_finish(session) -> None:
    """Start building the starting kit's venvs at once when their test is selected.

    Building the newest-Python venv downloads about 3 GB (tests/kit_envs.py); begun here, at
    the lowest CPU priority, it runs while the rest of the suite does instead of after it.
    """
    if any(item.nodeid.startswith(KIT_MATRIX) for item in session.items):
        from tests.kit_envs import start_builds

        start_builds()


@pytest.fixture(scope="module")
def inline_store(request, tmp_path_factory) -> Path:
    """The store the test module's ``generate(store, *args)`` builds with the inline executor,
    one model after another in one process: the reference other executors are held to."""
    store = tmp_path_factory.mktemp("inline") / "store"
    request.module.generate(store, "--executor", "inline")
    return store


@pytest.fixture(scope="module")
def reference(request, inline_store) -> dict[str, object]:
    """:func:`snapshot` of ``inline_store``, which must hold the module's ``MODELS`` models."""
    files = snapshot(inline_store)
    assert sum(name.endswith("model.safetensors") for name in files) == request.module.MODELS
    return files


@pytest.fixture(scope="session")
def tiny_preset():
    return load_preset(TINY_PRESET)


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """The whole tiny preset, generated in reproducible mode (about a minute on 2 cores)."""
    store = tmp_path_factory.mktemp("tiny") / "store"
    run_generator(
        "generate",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(store),
        "--quiet",
        env_extra={"MICO_MASTER_SEED": TINY_MASTER_SEED},
    )
    return store


@pytest.fixture(scope="session")
def tiny_export(tiny_store, tmp_path_factory) -> tuple[Path, Path]:
    """(public tree root, reference data root) exported from the tiny store."""
    out = tmp_path_factory.mktemp("export")
    run_generator(
        "export",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(tiny_store),
        "--public",
        str(out / "public"),
        "--reference",
        str(out / "reference"),
    )
    return out / "public", out / "reference"


@pytest.fixture(scope="session")
def bundles(tiny_preset, tiny_export, tmp_path_factory) -> Path:
    """Every bundle of the tiny preset, with SHA256SUMS, as ``make bundle`` writes them."""
    from generator.publish.bundle import build_task_bundles, write_checksums

    public, reference = tiny_export
    out = tmp_path_factory.mktemp("bundles")
    written = []
    for task in tiny_preset.tasks:
        written += build_task_bundles(tiny_preset, task, public, reference, out)
    write_checksums(out, written)
    return out
