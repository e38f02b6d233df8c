"""Organizer mistakes end in one clear line and exit status 2, before any training."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from .conftest import ROOT, TINY_PRESET, run_generator


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["generate", "--preset", "nope"],
            "nope.yaml: preset file not found (presets here: demo, mico",
        ),
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
        (["generate", "--preset", str(TINY_PRESET), "--models", "5-2"], "expected indices"),
        (["generate", "--preset", str(TINY_PRESET), "--models", "7"], "index 7 does not exist"),
        (["generate", "--preset", str(TINY_PRESET), "--device", "tpu"], "--device 'tpu'"),
        (["generate", "--preset", str(TINY_PRESET), "--device", "cuda:64"], "CUDA device(s)"),
        (
            # Reference data written into the public tree would ship dev/final solutions.
            [
                "export",
                "--preset",
                str(TINY_PRESET),
                "--store",
                "/nonexistent/store",
                "--public",
                "/tmp/out",
                "--reference",
                "/tmp/out/ref",
            ],
            "the public folder overlaps the reference folder",
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


def test_mico_debug_shows_the_traceback_behind_a_one_line_error(tmp_path):
    """For an organizer who suspects that an "error:" line hides a bug, not bad input."""
    args = ["generate", "--preset", "nope", "--store", str(tmp_path / "s")]
    quiet = run_generator(*args, check=False)
    loud = run_generator(*args, check=False, env_extra={"MICO_DEBUG": "1"})
    assert "Traceback" not in quiet.stderr and quiet.returncode == 2
    assert "Traceback (most recent call last)" in loud.stderr and loud.returncode == 1
    assert "PresetError: " in loud.stderr and "nope.yaml: preset file not found" in loud.stderr


def test_status_counts_models(tiny_store):
    result = run_generator(
        "status", "--preset", str(TINY_PRESET), "--store", str(tiny_store), "--stale"
    )
    assert "84/84 models finished" in result.stdout
    assert "tabular/tabular_lo" in result.stdout


def test_a_blank_master_seed_variable_is_refused_not_taken_for_secure_mode(tmp_path):
    result = run_generator(
        "generate",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(tmp_path / "s"),
        env_extra={"MICO_MASTER_SEED": "  "},
        check=False,
    )
    assert result.returncode == 2 and "MICO_MASTER_SEED is set but empty" in result.stderr
    assert not (tmp_path / "s").exists()


def test_a_store_path_that_is_a_file_fails_before_training(tmp_path):
    store = tmp_path / "store"
    store.write_text("not a folder")
    result = run_generator(
        "generate", "--preset", str(TINY_PRESET), "--store", str(store), check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {store}: not a folder (the store)"


MODEL = "tabular/tabular_inf/dev/model_1"


def _truncate(path, size):
    with open(path, "r+b") as handle:
        handle.truncate(size)


@pytest.mark.parametrize(
    "damage,file,problem",
    [
        (lambda m: (m / "metadata.json").write_text("{bad"), "metadata.json", "not valid JSON"),
        (lambda m: (m / "solution.csv").unlink(), "solution.csv", "missing"),
        (lambda m: _truncate(m / "solution.csv", 6), "solution.csv", "lines of 0/1"),
        (lambda m: _truncate(m / "model.safetensors", 100), "model.safetensors", "unreadable"),
        (lambda m: (m / "seed_challenge").unlink(), "seed_challenge", "missing"),
    ],
)
def test_export_of_a_damaged_store_names_the_file_and_writes_nothing(
    tmp_path, tiny_store, damage, file, problem
):
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    damage(store / MODEL)
    public, reference = tmp_path / "public", tmp_path / "reference"
    result = run_generator(
        "export",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(store),
        "--public",
        str(public),
        "--reference",
        str(reference),
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {store / MODEL / file}: ") and problem in line
    assert "run 'python -m generator generate' again" in line
    assert not public.exists() and not reference.exists()


def test_a_model_folder_damaged_by_hand_is_rebuilt_by_generate(tmp_path, tiny_store):
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    (store / MODEL / "metadata.json").unlink()
    result = run_generator(
        "generate",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(store),
        "--tasks",
        "tabular",
        "--executor",
        "inline",
        "--quiet",
    )
    assert "1 trained" in result.stderr and "0 failed" in result.stderr
    assert (store / MODEL / "metadata.json").is_file()


def _replace_with_link(store):
    shutil.rmtree(store / MODEL)
    (store / MODEL).symlink_to(store / "tabular/tabular_inf/train/model_1")


def _replace_with_copy(store, rename=False):
    shutil.rmtree(store / MODEL)
    shutil.copytree(store / "tabular/tabular_inf/train/model_1", store / MODEL)
    if rename:  # the copy's metadata edited to pass for the dev model
        metadata = json.loads((store / MODEL / "metadata.json").read_text())
        metadata.update(phase="dev", model="model_1")
        (store / MODEL / "metadata.json").write_text(json.dumps(metadata))


def _copy_weights_only(store):
    source = store / "tabular/tabular_inf/train/model_1/model.safetensors"
    shutil.copy(source, store / MODEL / "model.safetensors")


@pytest.mark.parametrize(
    "swap,problem",
    [
        (_replace_with_link, "a symbolic link to"),
        (_replace_with_copy, "says phase 'train', but the folder is phase 'dev'"),
        (lambda store: _replace_with_copy(store, rename=True), "the same seeds as"),
        (_copy_weights_only, "the same weights as"),
    ],
    ids=["symlink", "copy", "copy-with-edited-metadata", "copied-weights"],
)
def test_a_dev_model_that_is_really_a_train_model_is_refused_at_export(
    tmp_path, tiny_store, swap, problem
):
    # A published train model's solution would be the hidden dev solution.
    store = tmp_path / "store"
    shutil.copytree(tiny_store, store)
    swap(store)
    public, reference = tmp_path / "public", tmp_path / "reference"
    result = run_generator(
        "export",
        "--preset",
        str(TINY_PRESET),
        "--store",
        str(store),
        "--tasks",
        "tabular",
        "--public",
        str(public),
        "--reference",
        str(reference),
        check=False,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {store / MODEL}") and problem in line
    assert not (public / "tabular").exists() and not reference.exists()


def test_a_full_disk_during_export_names_the_file_and_says_the_disk_is_full(tmp_path, tiny_store):
    def small_files():  # a file may grow to 200 kB, as on a nearly full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    command = [sys.executable, "-m", "generator", "export", "--preset", str(TINY_PRESET)]
    command += ["--store", str(tiny_store), "--tasks", "image"]
    command += ["--public", str(tmp_path / "public"), "--reference", str(tmp_path / "ref")]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, preexec_fn=small_files
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "features.npy: disk full" in line, line
    assert not (tmp_path / "public" / "image").exists()


def test_version_names_the_generator_and_the_starting_kit():
    from micokit import __version__ as kit_version

    from generator import __version__

    result = run_generator("--version")
    assert result.stdout.strip() == f"python -m generator {__version__} (micokit {kit_version})"


def test_bundle_prints_every_report_flag_and_strict_fails_on_them(tmp_path, tiny_store):
    """Issue #12: the report's flags reach the terminal, after the timings, and ``--strict``
    exits 1 when there is any; the bundles are written all the same. Thresholds no model
    can meet force a flag in every scenario of the image task (the only task kept)."""
    import yaml

    from .conftest import TINY_MASTER_SEED

    raw = yaml.safe_load(TINY_PRESET.read_text())
    raw["tasks"] = [t for t in raw["tasks"] if t["id"] == "image"]
    raw["report"] = {"min_gain_over_chance": 1.0}
    preset = tmp_path / "strict.yaml"
    preset.write_text(yaml.safe_dump(raw, allow_unicode=True))
    out = tmp_path / "bundles"
    folders = ["--public", tmp_path / "public", "--reference", tmp_path / "reference"]
    result = run_generator(
        *["bundle", "--preset", str(preset), "--store", str(tiny_store), "--quiet"],
        *map(str, [*folders, "--out", out, "--strict"]),
        env_extra={"MICO_MASTER_SEED": TINY_MASTER_SEED},
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    timings = next(i for i, line in enumerate(lines) if line.startswith("bundle: "))
    flags = [line.removeprefix("flag: ") for line in lines if line.startswith("flag: ")]
    useless = [flag.split(": ")[0] for flag in flags if "useless models" in flag]
    assert useless == ["image_inf", "image_hi", "image_lo"]
    assert all(line.startswith("flag: ") for line in lines[timings + 2 : -1])
    assert lines[-1].startswith(
        f"error: --strict: the calibration reports raised {len(flags)} flag(s)"
    )
    assert "the bundles are written" in lines[-1]
    report = json.loads((out / "image-report.json").read_text())
    assert [f for e in report.values() for f in e["flags"]] == flags
    assert (out / "SHA256SUMS").is_file() and any(out.glob("image*.zip"))
