"""A killed generation leaves no half-written model; re-running completes it without retraining.

A killed bundle run leaves no checksum list that disagrees with the zips beside it, and the
next run cleans up what the killed one left half-written.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

from .conftest import ROOT, TINY_MASTER_SEED, TINY_PRESET, run_generator

ARGS = ["--preset", str(TINY_PRESET), "--tasks", "tabular", "--scenarios", "tabular_hi", "--quiet"]
# The generator on one worker, as a child process the tests interrupt (add "--store", path).
GENERATE = [sys.executable, "-m", "generator", "generate", *ARGS, "--workers", "1"]


def _finished(store):
    return {
        p.parent: p.stat().st_mtime_ns
        for p in store.glob("tabular/tabular_hi/*/model_*/metadata.json")
    }


def test_kill_mid_model_then_rerun_gives_a_complete_store(tmp_path):
    store = tmp_path / "store"
    process = subprocess.Popen(
        [*GENERATE, "--store", str(store)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(_finished(store)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # no chance to clean up: the worst case
    process.wait()
    before = _finished(store)
    assert 2 <= len(before) < 7, "the kill should land mid-run"
    for directory in store.glob("tabular/tabular_hi/*/*"):
        # Whatever survives under a model's final name is complete.
        if directory.name.startswith("model_"):
            assert (directory / "metadata.json").is_file() and (
                directory / "solution.csv"
            ).is_file()

    result = run_generator("generate", *ARGS, "--store", str(store), "--workers", "1")
    after = _finished(store)
    assert len(after) == 7
    assert all(after[path] == mtime for path, mtime in before.items()), (
        "a finished model was retrained"
    )
    assert f"{7 - len(before)} trained, {len(before)} already finished, 0 failed" in result.stderr
    assert not [p for p in store.rglob(".tmp-*")], "partial directories were left behind"


def _sigint_as_on_a_terminal() -> None:
    """Run in the child before exec: SIGINT back to its default disposition.

    A job started in the background of a non-interactive shell (``cmd &``, as CI runners
    and nohup do) inherits SIGINT *ignored*, and Python then installs no KeyboardInterrupt
    handler, so Ctrl-C would be lost; an organizer's terminal delivers it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_reports_how_to_resume(tmp_path):
    store = tmp_path / "store"
    process = subprocess.Popen(
        [*GENERATE, "--store", str(store)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_on_a_terminal,
    )
    deadline = time.monotonic() + 120
    while not _finished(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in stderr and "run the same command again to resume" in stderr
    assert not [p for p in store.rglob(".tmp-*")]


def test_a_bundle_killed_midway_leaves_no_wrong_checksums_and_a_rerun_is_consistent(
    tmp_path, tiny_store
):
    store, out = tmp_path / "store", tmp_path / "bundles"
    shutil.copytree(tiny_store, store)
    out.mkdir()
    (out / "SHA256SUMS").write_text(f"{'0' * 64}  image-data.zip\n")  # from an older build
    (out / ".tmp-image-data.zip-0a1b2c3d").write_bytes(b"half a zip")  # a run killed mid-zip
    args = ["bundle", "--preset", str(TINY_PRESET), "--store", str(store), "--out", str(out)]
    args += ["--public", str(tmp_path / "public"), "--reference", str(tmp_path / "ref")]
    env = dict(os.environ, MICO_MASTER_SEED=TINY_MASTER_SEED)
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", *args, "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not (out / "image-codalab.zip").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # after the first zip, before the checksums
    process.wait()
    assert (out / "image-codalab.zip").exists(), "the kill should land mid-bundle"
    assert not (out / "SHA256SUMS").exists()  # nothing vouched for rather than wrong sums
    assert not (out / ".tmp-image-data.zip-0a1b2c3d").exists()

    run_generator(*args, "--quiet", env_extra={"MICO_MASTER_SEED": TINY_MASTER_SEED})
    for sums in ("SHA256SUMS", "SHA256SUMS.organizer"):
        check = subprocess.run(["sha256sum", "-c", sums], cwd=out, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert not list(out.glob(".tmp-*"))
