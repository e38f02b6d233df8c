"""Training: DP-SGD calibration, achieved ε, noise seeds, plain ε = ∞ runs and their slicing."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from generator.build.datasets import load_dataset
from generator.build.training import train_model
from generator.spec.splits import make_split

from .conftest import ROOT


def _scenario(tiny_preset, task, scenario):
    return tiny_preset.task(task).scenario(scenario)


def test_every_dp_model_reaches_at_most_its_target_epsilon(tiny_preset, tiny_store):
    checked = 0
    for metadata_path in tiny_store.glob("*/*/*/model_*/metadata.json"):
        metadata = json.loads(metadata_path.read_text())
        if metadata["epsilon_target"] is None:
            assert metadata["epsilon_achieved"] is None and "noise_multiplier" not in metadata
            continue
        # PRV accountant's own error bound is 0.01 in ε by our tolerance setting.
        assert metadata["epsilon_achieved"] <= metadata["epsilon_target"] + 0.01
        assert metadata["steps"] == metadata["steps_planned"]
        checked += 1
    assert checked == 7 * 2 * 3 + 7 * 3  # hi+lo of three tasks, plus the three DDP scenarios


def test_noise_multiplier_matches_an_independent_accountant_call(tiny_store):
    from opacus.accountants.utils import get_noise_multiplier

    metadata = json.loads((tiny_store / "tabular/tabular_lo/dev/model_0/metadata.json").read_text())
    expected = get_noise_multiplier(
        target_epsilon=4.0,
        target_delta=metadata["delta"],
        sample_rate=metadata["sample_rate"],
        steps=metadata["steps"],
        accountant="prv",
        epsilon_tolerance=0.01,
    )
    assert metadata["noise_multiplier"] == pytest.approx(expected)


def _train(tiny_preset, scenario_id, seed):
    scenario = _scenario(tiny_preset, "tabular", scenario_id)
    data = load_dataset(scenario.dataset, None, scenario.model)
    split = make_split(len(data), scenario.n, scenario.m, "a" * 32, "b" * 32, "c" * 32)
    return train_model(scenario, data, split.training, split.evaluation, seed, torch.device("cpu"))


def test_same_training_seed_gives_identical_weights_and_another_seed_does_not(tiny_preset):
    first, again = _train(tiny_preset, "tabular_lo", 7), _train(tiny_preset, "tabular_lo", 7)
    other = _train(tiny_preset, "tabular_lo", 8)
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name])
    assert any(
        not torch.equal(t, other.model.state_dict()[n]) for n, t in first.model.state_dict().items()
    )


def test_two_dp_runs_differing_only_in_the_noise_seed_differ(tiny_preset, monkeypatch):
    # Same initial weights and batches (global RNG), different DP noise generator.
    import generator.build.training as training

    original = training._train_dp

    def with_noise_seed(noise_seed):
        def patched(model, train_set, scenario, device, generator, noise_generator, *rest):
            noise_generator.manual_seed(noise_seed)
            return original(model, train_set, scenario, device, generator, noise_generator, *rest)

        return patched

    monkeypatch.setattr(training, "_train_dp", with_noise_seed(1))
    a = _train(tiny_preset, "tabular_hi", 7)
    monkeypatch.setattr(training, "_train_dp", with_noise_seed(2))
    b = _train(tiny_preset, "tabular_hi", 7)
    assert not torch.equal(a.model.layers[0].weight, b.model.layers[0].weight)


def test_epsilon_infinity_never_imports_opacus(tiny_preset, tmp_path):
    # A fresh interpreter trains an ε = ∞ model; Opacus must not even be imported.
    import subprocess

    code = (
        "import sys, torch\n"
        "from generator.spec.presets import load_preset\n"
        "from generator.build.datasets import load_dataset\n"
        "from generator.spec.splits import make_split\n"
        "from generator.build.training import train_model\n"
        f"s = load_preset({str(tiny_preset.path)!r}).task('tabular').scenario('tabular_inf')\n"
        "d = load_dataset(s.dataset, None, s.model)\n"
        "sp = make_split(len(d), s.n, s.m, 'a'*32, 'b'*32, 'c'*32)\n"
        "train_model(s, d, sp.training, sp.evaluation, 1, torch.device('cpu'))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opacus')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_plain_training_in_physical_slices_matches_the_whole_logical_batch(tiny_preset):
    # max_physical_batch_size bounds memory, not the optimisation: the same steps are taken.
    from dataclasses import replace

    # SGD, not Adam: Adam's step would hide a gradient of the wrong scale.
    scenario = _scenario(tiny_preset, "image", "image_inf")
    sliced = replace(scenario, training=replace(scenario.training, max_physical_batch_size=5))
    assert scenario.training.batch_size > 5
    data = load_dataset(scenario.dataset, None, scenario.model)
    split = make_split(len(data), scenario.n, scenario.m, "a" * 32, "b" * 32, "c" * 32)
    whole, parts = (
        train_model(s, data, split.training, split.evaluation, 7, torch.device("cpu"))
        for s in (scenario, sliced)
    )
    assert parts.metadata["max_physical_batch_size"] == 5
    assert parts.metadata["steps"] == whole.metadata["steps"]
    for name, tensor in whole.model.state_dict().items():
        torch.testing.assert_close(parts.model.state_dict()[name], tensor, rtol=1e-4, atol=1e-5)
