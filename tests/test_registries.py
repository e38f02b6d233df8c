"""Adding an architecture or a dataset kind is one registry record plus its code.

The toy architecture and dataset kind below are registered at run time, nowhere else; a
preset naming them is validated, trained, exported and loaded back by micokit like the
built-in ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from micokit import archspec
from micokit.layout import MANIFEST_FILE, WEIGHTS_FILE
from micokit.loading import open_task
from torch import nn

from generator.build.datasets import TaskData
from generator.commands import GenerateOptions, generate
from generator.publish.export import export_public, export_reference
from generator.spec import kinds
from generator.spec.presets import PresetError, load_preset


class ToyLinear(nn.Module):
    """A one-layer classifier: the smallest module a registry record can name."""

    def __init__(self, in_features: int = 8, num_classes: int = 4) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def toy_blobs(spec, data_dir, pretrained) -> TaskData:
    """Four Gaussian blobs in 8 dimensions, ``spec.size`` points from ``spec.seed``."""
    rng = np.random.default_rng(spec.seed)
    labels = rng.integers(0, 4, spec.size)
    centres = rng.normal(0, 3, (4, 8))
    features = centres[labels] + rng.normal(0, 1, (spec.size, 8))
    return TaskData(
        "toy_blobs", "tabular", labels.astype(np.int64), features=torch.tensor(features).float()
    )


TOY_PRESET = """
name: toy
title: Toy registries
delta: 1.0e-5
device: cpu
executor: inline
publish_data: true
models: {train: 2, dev: 1, final: 1}
datasets:
  blobs: {kind: toy_blobs, size: 300, seed: 3}
tasks:
  - id: toy
    title: Toy blobs
    description: A registered architecture on a registered dataset kind.
    dataset: blobs
    n: 100
    m: 10
    model: {arch: toy_linear, in_features: 8, num_classes: 4}
    training: {optimizer: sgd, lr: 0.1, batch_size: 20, epochs: 3}
    scenarios:
      - {id: toy_inf, epsilon: null}
      - {id: toy_dp, epsilon: 8, training: {max_grad_norm: 1.0}}
"""


@pytest.fixture
def registered():
    archspec.register(
        archspec.Architecture(
            "toy_linear",
            "tabular",
            defaults={"in_features": 8, "num_classes": 4},
            network=f"{__name__}:ToyLinear",
            input_shape=lambda settings: (settings["in_features"],),
            parameters=lambda s: (s["in_features"] + 1) * s["num_classes"],
        )
    )
    kinds.register(kinds.DatasetKind("toy_blobs", "tabular", toy_blobs))
    yield
    del archspec.ARCHITECTURES["toy_linear"], kinds.DATASET_KINDS["toy_blobs"]


def test_a_registered_architecture_and_dataset_kind_train_export_and_load(registered, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_PRESET)
    preset = load_preset(path)
    store, public, reference = tmp_path / "store", tmp_path / "public", tmp_path / "reference"
    assert generate(preset, GenerateOptions(store=store, executor="inline", quiet=True))
    task = preset.task("toy")
    export_public(preset, task, store, public)
    export_reference(preset, task, store, reference)

    assert (public / "toy" / "toy_dp" / "dev" / "model_0" / WEIGHTS_FILE).is_file()
    assert (reference / "toy" / "final" / MANIFEST_FILE).is_file()
    kit = open_task(public, "toy")
    scenario = kit.scenario("toy_dp")
    assert scenario.architecture["arch"] == "toy_linear" and scenario.weights == WEIGHTS_FILE
    model = kit.models(scenario, "dev")[0]
    loaded = model.load("cpu")
    assert isinstance(loaded.module, ToyLinear)
    points = model.challenge_points()
    logits = loaded.module(points.features)
    assert logits.shape == (2 * scenario.m, 4)


def test_a_preset_may_not_name_an_architecture_that_is_not_registered(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_PRESET.replace("kind: toy_blobs", "kind: synthetic_purchase"))
    with pytest.raises(PresetError, match="'toy_linear' is not one of cnn, mlp, roberta"):
        load_preset(path)


def test_modalities_must_match_across_the_two_registries(registered, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(
        TOY_PRESET.replace("arch: toy_linear, in_features: 8, num_classes: 4", "arch: cnn")
    )
    with pytest.raises(
        PresetError, match="'cnn' models take image data but dataset kind 'toy_blobs' holds tabular"
    ):
        load_preset(path)
