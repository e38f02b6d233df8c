"""Presets load, resolve inheritance, and reject mistakes with one line naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generator.presets import PresetError, load_preset

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["demo", "mico"])
def test_shipped_presets_define_four_tasks_of_three_scenarios(name):
    preset = load_preset(name)
    assert [len(t.scenarios) for t in preset.tasks] == [3, 3, 3, 3]
    ddp = preset.tasks[-1]
    assert ddp.disclose_training
    # The DP distinguisher reuses the three low-ε setups.
    lows = [t.scenarios[-1] for t in preset.tasks[:3]]
    for copy, low in zip(ddp.scenarios, lows, strict=True):
        assert (copy.epsilon, copy.model, copy.training, copy.n) == (
            low.epsilon,
            low.model,
            low.training,
            low.n,
        )


def test_mico_preset_matches_the_published_setup():
    mico = load_preset("mico")
    cifar = mico.task("cifar10")
    assert [s.epsilon for s in cifar.scenarios] == [None, 10, 4]
    dp = cifar.scenario("cifar10_lo").training
    assert (dp.batch_size, dp.epochs, dp.max_grad_norm, dp.lr, dp.lr_gamma) == (
        512,
        50,
        2.6,
        0.5,
        0.96,
    )
    assert cifar.scenario("cifar10_inf").training.batch_size == 32
    assert (cifar.scenarios[0].n, cifar.scenarios[0].m) == (50_000, 100)
    assert mico.models == {"train": 100, "dev": 50, "final": 50}
    sst2 = mico.task("sst2").scenario("sst2_lo").training
    assert (sst2.batch_size, sst2.max_physical_batch_size, sst2.max_grad_norm, sst2.lr) == (
        1024,
        64,
        0.1,
        5e-4,
    )
    purchase = mico.task("purchase100").scenario("purchase100_hi").training
    assert (purchase.optimizer, purchase.lr_step_size, purchase.lr_gamma) == ("adam", 5, 0.9)


def _write(tmp_path, mutate):
    raw = yaml.safe_load((ROOT / "presets" / "demo.yaml").read_text())
    mutate(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r.update(tsks=[]), "unknown key 'tsks'"),
        (lambda r: r["tasks"][0]["scenarios"][1].update(epsilom=3), "unknown key 'epsilom'"),
        (
            lambda r: r["tasks"][0]["scenarios"][1].update(epsilon=-1),
            "tasks[0].scenarios[1].epsilon",
        ),
        (lambda r: r["tasks"][0].update(dataset="nope"), "unknown dataset 'nope'"),
        (
            lambda r: r["tasks"][0]["scenarios"][1]["training"].pop("max_grad_norm"),
            "needs 'max_grad_norm'",
        ),
        (
            lambda r: r["tasks"][3]["scenarios"][0].update(based_on="missing"),
            "no earlier scenario named",
        ),
        (lambda r: r["models"].pop("dev"), "missing required key 'dev'"),
        (lambda r: r["tasks"][1]["scenarios"][0].update(id="image_inf"), "duplicate scenario id"),
        (
            lambda r: r["tasks"][0]["training"].update(optimizer="rmsprop"),
            "'rmsprop' is not one of",
        ),
        (lambda r: r.update(datasets=["digits"]), "datasets: expected a mapping"),
        (lambda r: r["tasks"][1]["training"].update(lr=None), "tasks[1].scenarios[0].training.lr"),
        (lambda r: r["tasks"][0]["training"].update(epochs=None), "expected an integer, got None"),
        (lambda r: r.update(publish_data="false"), "publish_data: expected true or false"),
        (lambda r: r["tasks"][3].update(disclose_training="yes"), "expected true or false"),
        (lambda r: r["tasks"][0].pop("n"), "missing required key 'n'"),
        (lambda r: r["tasks"][0].update(n=1780), "exceeds the dataset size 1797"),
        (lambda r: r["tasks"][1].update(m=2000), "smaller than m"),
        (lambda r: r["tasks"][0]["model"].update(chanels=[1, 2, 3]), "unknown key 'chanels'"),
        (lambda r: r["tasks"][0]["model"].update(channels=[8, 8]), "list of 3 widths"),
        (lambda r: r["tasks"][1]["model"].update(arch="cnn"), "'cnn' models take image data"),
        (
            lambda r: r["tasks"][2]["model"]["public_pretraining"].pop("epochs"),
            "public_pretraining: missing required key 'epochs'",
        ),
        (lambda r: r["datasets"]["sentiment"].update(label_noise=0.6), "must be below 0.5"),
        (lambda r: r["tasks"][0].update(id="../image"), "expected an id of letters"),
        (lambda r: r["tasks"][0]["scenarios"][0].update(id=5), "expected an id of letters"),
        (lambda r: r.update(device="gpu"), "device: expected auto, cpu"),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(path) in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)


def test_exponent_numbers_that_yaml_reads_as_text_are_accepted(tmp_path):
    # PyYAML (YAML 1.1) reads 1e-5 as a string; organisers write δ that way all the time.
    path = tmp_path / "exp.yaml"
    path.write_text(
        (ROOT / "presets" / "demo.yaml").read_text().replace("delta: 1.0e-5", "delta: 1e-5")
    )
    assert "delta: 1e-5" in path.read_text()
    assert {s.delta for t in load_preset(path).tasks for s in t.scenarios} == {1e-5}


def test_model_keys_are_the_architectures_constructor_arguments():
    import inspect

    from micokit.architectures import MicoCNN, MicoMLP

    from generator.presets import MODEL_KEYS

    for arch, module in (("cnn", MicoCNN), ("mlp", MicoMLP)):
        parameters = set(inspect.signature(module.__init__).parameters) - {"self"}
        assert MODEL_KEYS[arch] == parameters


def test_missing_and_unparsable_presets(tmp_path):
    with pytest.raises(PresetError, match="preset file not found"):
        load_preset("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed\n")
    with pytest.raises(PresetError, match="not valid YAML"):
        load_preset(bad)
