"""The batched trainer behind the store: fixed groups, whole models only, no diverged model.

The tiny preset trains its tabular scenarios with ``trainer: batched`` in groups of 4, so each
scenario's 7 models form two groups, the first spanning the train and dev phases. Stores are
compared byte for byte as in test_executors (``metadata.json`` minus its wall time).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from generator.build.executors import torch_threads
from generator.build.store import (
    GenerationContext,
    ModelId,
    config_parts,
    find_stale,
    is_finished,
    run_model_unit,
    training_group,
    work_units,
)
from generator.build.trainers import TRAINERS
from generator.spec.presets import TRAINER_ARCHS, load_preset

from .conftest import TINY_MASTER_SEED, TINY_PRESET, generate_scenario, run_generator, snapshot

# ε = ∞, the cheapest batched scenario to set up (no σ to calibrate); DP-SGD in a group is held
# against Opacus in test_batched_training.
SCENARIO = ["--tasks", "tabular", "--scenarios", "tabular_inf"]
MODELS = 7
SEED_ENV = {"MICO_MASTER_SEED": TINY_MASTER_SEED}


def generate(store: Path, *extra: str, **kwargs):
    return generate_scenario(store, SCENARIO, *extra, **kwargs)


def tabular(phase: str, index: int) -> ModelId:
    return ModelId("tabular", "tabular_inf", phase, index)


def test_groups_are_cut_from_the_preset_alone_across_phases(tiny_preset):
    first = (tabular("train", 0), tabular("train", 1), tabular("train", 2), tabular("dev", 0))
    assert training_group(tiny_preset, tabular("dev", 0)) == first
    rest = (tabular("dev", 1), tabular("final", 0), tabular("final", 1))
    assert training_group(tiny_preset, tabular("final", 1)) == rest
    # What is still to do never changes a group; it only picks the models a unit stores.
    assert work_units(tiny_preset, [tabular("final", 0), tabular("train", 2)]) == [
        (tabular("final", 0),),
        (tabular("train", 2),),
    ]
    image = ModelId("image", "image_inf", "dev", 1)
    assert training_group(tiny_preset, image) == (image,)


def test_every_trainer_a_preset_can_name_is_registered():
    assert set(TRAINERS) == set(TRAINER_ARCHS)


def test_batched_models_say_which_trainer_made_them(inline_store):
    paths = list(inline_store.glob("tabular/tabular_inf/*/model_*/metadata.json"))
    assert len(paths) == MODELS
    for path in paths:
        metadata = json.loads(path.read_text())
        assert metadata["trainer"] == "batched" and metadata["non_finite"] is None
        assert metadata["batch_models"] in (3, 4)


def test_a_batched_store_is_the_same_whatever_was_asked_first(tmp_path, reference):
    store = tmp_path / "store"
    # The dev models alone first: two of them, one from each group, so each run trains whole
    # groups and keeps only part of them.
    first = generate(store, "--executor", "local", "--workers", "2", "--phases", "dev")
    assert "2 trained, 0 already finished, 0 failed" in first.stderr
    rest = generate(store, "--executor", "local", "--workers", "2")
    assert f"{MODELS - 2} trained, 2 already finished, 0 failed" in rest.stderr
    assert snapshot(store) == reference


def test_ray_trains_batched_groups_into_the_same_store(tmp_path, reference):
    store = tmp_path / "store"
    result = generate(store, "--executor", "ray", "--workers", "2")
    assert f"{MODELS} trained, 0 already finished, 0 failed" in result.stderr
    assert snapshot(store) == reference


def test_an_interrupted_group_leaves_whole_models_and_resumes_to_the_same_store(
    tmp_path, tiny_preset, reference, monkeypatch
):
    import generator.build.store as store_module

    store = tmp_path / "store"
    real_store_model = store_module._store_model
    stored: list[ModelId] = []

    def killed_after_one(context, task, *args):
        if stored:
            raise KeyboardInterrupt  # as if the process were stopped between two models
        stored.append(task)
        return real_store_model(context, task, *args)

    monkeypatch.setattr(store_module, "_store_model", killed_after_one)
    context = GenerationContext(str(TINY_PRESET), str(store), master_seed=TINY_MASTER_SEED)
    group = training_group(tiny_preset, tabular("train", 0))
    with torch_threads(1), pytest.raises(KeyboardInterrupt):  # one thread: reproducible mode
        run_model_unit(context, group)
    assert [task for task in group if is_finished(task.path(store))] == stored == [group[0]]
    folder = group[0].path(store).parent
    assert sorted(p.name for p in folder.iterdir()) == ["model_0"]  # no .tmp-, no claim
    monkeypatch.undo()
    resumed = generate(store, "--executor", "inline")
    assert f"{MODELS - 1} trained, 1 already finished, 0 failed" in resumed.stderr
    assert snapshot(store) == reference


@pytest.mark.parametrize("trainer", ["batched", "standard"])
def test_a_model_whose_training_diverges_is_never_stored(tmp_path, trainer):
    text = TINY_PRESET.read_text()
    old = "training: {optimizer: adam, lr: 0.001, batch_size: 32, epochs: 6, trainer: batched,"
    assert old in text
    new = f"training: {{optimizer: sgd, lr: 3.0e+38, batch_size: 32, epochs: 1, trainer: {trainer},"
    preset = tmp_path / "diverging.yaml"
    preset.write_text(text.replace(old, new))
    store = tmp_path / "store"
    result = run_generator(
        "generate",
        "--preset",
        str(preset),
        "--tasks",
        "tabular",
        "--scenarios",
        "tabular_inf",
        "--store",
        str(store),
        "--quiet",
        "--executor",
        "inline",
        env_extra=SEED_ENV,
        check=False,
    )
    assert result.returncode == 1
    assert f"0 trained, 0 already finished, {MODELS} failed" in result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == MODELS
    assert all("training diverged" in line and "not stored" in line for line in failures)
    assert "Traceback" not in result.stderr
    assert not list(store.glob("tabular/*/*/*"))  # no model folder, finished or partial


def test_switching_the_trainer_makes_finished_models_stale(tmp_path, inline_store):
    text = TINY_PRESET.read_text()
    preset = tmp_path / "standard.yaml"
    preset.write_text(text.replace("trainer: batched,", "trainer: standard,"))
    context = GenerationContext(str(preset), str(inline_store), master_seed=TINY_MASTER_SEED)
    tasks = [tabular("train", 0), tabular("final", 1)]
    assert find_stale(context, tasks) == {task: "preset settings changed" for task in tasks}


def test_standard_scenarios_keep_the_config_key_they_had_before_trainers_existed(tiny_preset):
    # The settings hash of tiny's image_inf as the generator computed it before the
    # ``trainer`` and ``batch_models`` keys were added: stores built then stay current.
    scenario = tiny_preset.task("image").scenario("image_inf")
    assert config_parts(scenario, "any")["settings"] == (
        "cbc6b01d6aa7fe260962cf0ca532d3904ec246221c81fb5727194f92b968a606"
    )


def test_retraining_a_stale_batched_model_swaps_in_the_group_run(tmp_path, inline_store):
    store = tmp_path / "store"
    shutil.copytree(inline_store, store)
    edited = tmp_path / "edited.yaml"
    edited.write_text(
        TINY_PRESET.read_text().replace("lr: 0.001, batch_size: 32", "lr: 0.002, batch_size: 32", 1)
    )
    assert load_preset(edited).task("tabular").scenario("tabular_inf").training.lr == 0.002
    result = generate(
        store, "--executor", "inline", "--phases", "final", "--retrain-stale", preset=edited
    )
    assert "2 trained, 0 already finished, 0 failed" in result.stderr
    lrs = {
        p.parent.parent.name: json.loads(p.read_text())["lr"]
        for p in store.glob("tabular/tabular_inf/*/model_0/metadata.json")
    }
    assert lrs == {"train": 0.001, "dev": 0.001, "final": 0.002}
    assert not list(store.rglob(".tmp-*"))
