"""Several runs on one store share the work: no model is trained twice, none is lost or broken.

Two ``generate`` processes on one store split the models between them through per-model
claims; a sweep of leftovers never deletes a folder whose model another run is training; export
and bundle hold the store exclusively, so a concurrent retrain cannot swap a model between the
public and the reference export. The training runs record each model they train through a
wrapper around ``generator.build.training.train_model`` (in the test's own launcher, so the product
carries no test hook).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from generator.build.store import TMP_PREFIX, ModelId, is_finished, select_models, sweep_partial
from generator.locks import folder_lock, try_claim
from generator.spec.presets import load_preset

from .conftest import ROOT, TINY_MASTER_SEED, TINY_PRESET, run_generator

SCENARIO = ["--tasks", "tabular", "--scenarios", "tabular_inf"]
# Each model's training is slowed down, so that the two runs overlap for certain.
LAUNCHER = textwrap.dedent(
    """
    import os, sys, time
    import generator.build.training as training

    original = training.train_model

    def recorded(*args, **kwargs):
        with open(os.environ["TRAIN_LOG"], "a") as log:
            log.write(f"{os.getpid()} {args[-1]}\\n")
        time.sleep(float(os.environ["TRAIN_DELAY"]))
        return original(*args, **kwargs)

    training.train_model = recorded
    from generator.cli import main

    sys.exit(main(sys.argv[1:]))
    """
)


def start_generate(store: Path, log: Path, *extra: str, delay: float = 1.5) -> subprocess.Popen:
    env = dict(
        os.environ, TRAIN_LOG=str(log), TRAIN_DELAY=str(delay), MICO_MASTER_SEED=TINY_MASTER_SEED
    )
    # One model per claim and per train_model call: the tiny tabular scenarios on the standard
    # trainer (batched groups are covered by test_batched_store).
    preset = log.parent / "tiny_standard.yaml"
    preset.write_text(TINY_PRESET.read_text().replace("trainer: batched,", "trainer: standard,"))
    command = [sys.executable, "-c", LAUNCHER, "generate", "--preset", str(preset)]
    command += [*SCENARIO, "--store", str(store), "--quiet", "--executor", "inline", *extra]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen) -> str:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    return stderr


def scenario_models() -> list[ModelId]:
    return select_models(load_preset(TINY_PRESET), ["tabular"], ["tabular_inf"])


def trained(log: Path) -> list[str]:
    return [line.split()[1] for line in log.read_text().splitlines()]


def test_two_generate_runs_on_one_store_train_every_model_exactly_once(tmp_path):
    store, log = tmp_path / "store", tmp_path / "trained.log"
    first = start_generate(store, log)
    second = start_generate(store, log)
    outputs = [finish(first), finish(second)]
    models = scenario_models()
    assert sorted(trained(log)) == sorted(str(m) for m in models)  # each once, none twice
    assert all(is_finished(m.path(store)) for m in models)
    pids = {line.split()[0] for line in log.read_text().splitlines()}
    assert len(pids) == 2  # both runs trained some: the work was shared, not serialised
    assert all("0 failed" in out for out in outputs)
    assert not list(store.rglob(f"{TMP_PREFIX}*")) and not list(store.rglob(".claim-*"))


def test_a_run_killed_mid_model_leaves_that_model_to_the_run_still_alive(tmp_path):
    store, log = tmp_path / "store", tmp_path / "trained.log"
    doomed = start_generate(store, log, delay=30.0)  # stuck in its first model
    deadline = time.monotonic() + 120
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivor = start_generate(store, log, delay=0.0)
    models = scenario_models()
    while len(trained(log)) < len(models) and time.monotonic() < deadline:
        time.sleep(0.2)  # the survivor trains every model but the claimed one ...
    time.sleep(1.0)  # ... and then waits for that one
    doomed.kill()
    doomed.communicate()
    stderr = finish(survivor)
    assert all(is_finished(m.path(store)) for m in models)
    first = trained(log)[0]
    assert trained(log).count(first) == 2  # the killed run's model, trained again by the survivor
    assert len(trained(log)) == len(models) + 1
    assert "waiting for 1 model(s) that another run on this store is training" in stderr


def test_the_sweep_leaves_the_folder_of_a_model_another_run_is_training(tmp_path):
    store = tmp_path / "store"
    model = ModelId("tabular", "tabular_inf", "train", 0)
    model.path(store).parent.mkdir(parents=True)
    in_progress = model.path(store).parent / f"{TMP_PREFIX}{model.name}-0a1b2c3d"
    in_progress.mkdir()
    (in_progress / "model.safetensors").write_bytes(b"being written")
    with try_claim(model.path(store)):
        assert sweep_partial(store, [model]) == []
        assert sweep_partial(store) == []
        assert (in_progress / "model.safetensors").exists()
    assert sweep_partial(store, [model]) == [in_progress]  # its run is gone: now a leftover
    assert not in_progress.exists()


def test_a_claimed_model_cannot_be_claimed_twice(tmp_path):
    model_dir = tmp_path / "tabular" / "tabular_inf" / "dev" / "model_1"
    with try_claim(model_dir) as claim:
        assert claim is not None
        assert try_claim(model_dir) is None
    with try_claim(model_dir) as again:  # released: free again, and no claim file left
        assert again is not None
    assert list(model_dir.parent.iterdir()) == []


def test_a_generate_run_on_the_store_makes_export_wait(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    with folder_lock(store, shared=True, purpose="test"):  # as every generate run holds it
        command = [sys.executable, "-m", "generator", "export", "--preset", str(TINY_PRESET)]
        command += ["--store", str(store), "--public", str(tmp_path / "public")]
        command += ["--reference", str(tmp_path / "ref")]
        export = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        time.sleep(8)
        assert export.poll() is None  # waiting, and has written nothing yet
        assert not (tmp_path / "public").exists()
    _, stderr = export.communicate(timeout=120)
    assert f"waiting: {store} is in use" in stderr
    assert export.returncode == 2 and "not generated yet" in stderr  # then ran, on an empty store


def test_an_export_in_progress_makes_a_retrain_wait_until_it_is_done(tmp_path):
    store, log = tmp_path / "store", tmp_path / "trained.log"
    store.mkdir()
    with folder_lock(store, shared=False, purpose="test"):  # as export and bundle hold it
        retrain = start_generate(store, log, "--retrain-stale", delay=0.0)
        time.sleep(8)
        assert retrain.poll() is None
        assert not log.exists()  # no model trained, none swapped in, while the export reads
    stderr = finish(retrain)
    assert f"waiting: {store} is in use by pid {os.getpid()}" in stderr
    assert len(trained(log)) == len(scenario_models())


def test_status_shows_the_models_other_runs_are_training(tmp_path):
    store = tmp_path / "store"
    model = ModelId("tabular", "tabular_inf", "dev", 1)
    with try_claim(model.path(store)):
        status = run_generator("status", "--preset", str(TINY_PRESET), "--store", str(store))
    assert f"1 being trained now (first: {model}, by pid {os.getpid()} on " in status.stdout
    after = run_generator("status", "--preset", str(TINY_PRESET), "--store", str(store))
    assert "being trained now" not in after.stdout
