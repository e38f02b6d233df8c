"""Organizer mistakes end in one clear line and exit status 2, before any training."""

from __future__ import annotations

import pytest

from .conftest import TINY_PRESET, run_generator


@pytest.mark.parametrize(
    "args,message",
    [
        (["generate", "--preset", "nope"], "nope.yaml: preset file not found"),
        (["generate", "--preset", str(TINY_PRESET), "--tasks", "video"], "unknown task 'video'"),
        (["generate", "--preset", str(TINY_PRESET), "--phases", "test"], "unknown phase 'test'"),
        (
            ["generate", "--preset", str(TINY_PRESET), "--models", "a-b"],
            "expected indices like 0-3,7",
        ),
        (
            ["generate", "--preset", "mico", "--data-dir", "/nonexistent"],
            "/nonexistent/cifar-10-batches-py/data_batch_1: file not found",
        ),
        (
            ["generate", "--preset", str(TINY_PRESET), "--master-seed-file", "/nonexistent/seed"],
            "master seed file not found",
        ),
        (
            ["export", "--preset", str(TINY_PRESET), "--store", "/nonexistent/store"],
            "not generated yet",
        ),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path, args, message):
    result = (
        run_generator(*args, "--store", str(tmp_path / "s"), check=False)
        if "--store" not in args
        else run_generator(*args, check=False)
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error: ")
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_status_counts_models(tiny_store):
    result = run_generator(
        "status", "--preset", str(TINY_PRESET), "--store", str(tiny_store), "--stale"
    )
    assert "84/84 models finished" in result.stdout
    assert "tabular/tabular_lo" in result.stdout
