"""Presets load, resolve inheritance, and reject mistakes with one line naming file and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from generator.spec.kinds import DATASET_KINDS
from generator.spec.presets import PresetError, load_preset

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
        (
            lambda r: r["datasets"]["sentiment"].update(ambiguous=1.5),
            "ambiguous: must be at most 1",
        ),
        (
            lambda r: r["datasets"]["sentiment"].update(negation=-0.1),
            "negation: expected a non-negative",
        ),
        (lambda r: r["tasks"][0].update(id="../image"), "expected an id of letters"),
        (lambda r: r["tasks"][0]["scenarios"][0].update(id=5), "expected an id of letters"),
        (lambda r: r.update(device="gpu"), "device: expected auto, cpu"),
        (
            lambda r: r["tasks"][0]["training"].update(trainer="batched"),
            "tasks[0].scenarios[0].training.trainer: the batched trainer trains mlp models, "
            "not 'cnn' (use trainer: standard)",
        ),
        (
            lambda r: r["tasks"][1]["training"].update(max_physical_batch_size=16),
            "training.max_physical_batch_size: the batched trainer takes each logical batch whole",
        ),
        (
            lambda r: r["tasks"][1]["training"].update(trainer="stacked"),
            "training.trainer: 'stacked' is not one of standard, batched",
        ),
        (
            lambda r: r["tasks"][1]["training"].update(batch_models=2000),
            "training.batch_models: 2000 is out of range (allowed: 1 to 1,024)",
        ),
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


def test_model_keys_and_defaults_are_the_architectures_constructor_arguments():
    import inspect

    from micokit.architectures import MicoCNN, MicoMLP
    from micokit.archspec import architecture

    from generator.spec.presets import CNN_DEFAULTS, MLP_DEFAULTS

    for arch, module, defaults in (("cnn", MicoCNN, CNN_DEFAULTS), ("mlp", MicoMLP, MLP_DEFAULTS)):
        parameters = dict(inspect.signature(module.__init__).parameters)
        parameters.pop("self")
        assert set(architecture(arch).defaults) == set(parameters)
        assert architecture(arch).module_class() is module
        assert {k: p.default for k, p in parameters.items()} == {
            k: tuple(v) if isinstance(v, list) else v for k, v in defaults.items()
        }


def test_missing_and_unparsable_presets(tmp_path):
    with pytest.raises(PresetError, match="preset file not found"):
        load_preset("no-such-preset")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [unclosed\n")
    with pytest.raises(PresetError, match="not valid YAML"):
        load_preset(bad)


# --------------------------------------------------------------- bounds (issue #11, item 8)
# Every count and size is bounded at load, before anything is allocated; the message names the
# file, the YAML path, the value and the allowed range.


def _scenario_training(r, task, **values):
    r["tasks"][task]["training"].update(values)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda r: r["models"].update(train=10**12),
            "models.train: 1000000000000 is out of range (allowed: 1 to 10,000)",
        ),
        (lambda r: r["models"].update(dev=10_001), "models.dev: 10001 is out of range"),
        (lambda r: r["models"].update(final=10**30), "models.final: 100000000000… (a 31-digit"),
        (
            lambda r: r["datasets"]["purchase"].update(size=10**12),
            "datasets.purchase.size: 1000000000000 is out of range (allowed: 1 to 1,000,000)",
        ),
        (
            lambda r: r["datasets"]["sentiment"].update(max_length=10**6),
            "datasets.sentiment.max_length: 1000000 is out of range (allowed: 1 to 512)",
        ),
        (
            lambda r: r["datasets"]["sentiment"].update(vocab_size=10**9),
            "datasets.sentiment.vocab_size: 1000000000 is out of range (allowed: 1 to 500,000)",
        ),
        (lambda r: r["datasets"]["digits"].update(seed=2**64), "datasets.digits.seed:"),
        (
            lambda r: _scenario_training(r, 0, epochs=10**9),
            "tasks[0].scenarios[0].training.epochs: 1000000000 is out of range "
            "(allowed: 1 to 10,000)",
        ),
        (
            lambda r: _scenario_training(r, 0, lr_step_size=10**5),
            "tasks[0].scenarios[0].training.lr_step_size: 100000 is out of range",
        ),
        (
            lambda r: _scenario_training(r, 1, batch_size=10**12),
            "tasks[1].scenarios[0].training.batch_size: 1000000000000 is out of range "
            "(allowed: 1 to n = 1,500, the training set)",
        ),
        (
            lambda r: _scenario_training(r, 1, max_physical_batch_size=1501),
            "tasks[1].scenarios[0].training.max_physical_batch_size: 1501 is out of range",
        ),
        (lambda r: r["tasks"][1].update(n=10**12), "exceeds the dataset size 6000"),
        (lambda r: r["tasks"][1].update(m=10**12), "smaller than m"),
        (
            lambda r: r["tasks"][0]["scenarios"][1].update(epsilon=1e6),
            "tasks[0].scenarios[1].epsilon: 1000000.0 is out of range "
            "(allowed: above 0 and at most 100)",
        ),
        (
            lambda r: r.update(delta=1e-30),
            "tasks[0].scenarios[0].delta: 1e-30 is out of range (allowed: 1e-12 ≤ δ < 1)",
        ),
        (
            lambda r: r["tasks"][2]["model"]["public_pretraining"].update(size=10**10),
            "public_pretraining.size: 10000000000 is out of range (allowed: 1 to 1,000,000)",
        ),
        (
            lambda r: r["tasks"][2]["model"]["public_pretraining"].update(epochs=10**10),
            "public_pretraining.epochs: 10000000000 is out of range",
        ),
        (
            lambda r: r["tasks"][0]["model"].update(channels=[10**5, 10**5, 10**5]),
            "tasks[0].scenarios[0].model: 180,002,200,010 parameters is out of range "
            "(allowed: at most 1,000,000,000)",
        ),
        (
            lambda r: r["tasks"][0]["model"].update(channels=[10**2000, 1, 1]),
            "parameters is out of range",
        ),
        (
            lambda r: r["tasks"][0]["model"].update(channels=[4096, 1, 1], image_size=2000),
            "tasks[0].scenarios[0].model: a layer of 16,384,000,000 values per image is out of "
            "range (allowed: at most 10,000,000)",
        ),
        (
            lambda r: r["tasks"][0]["model"].update(image_size=4),
            "tasks[0].scenarios[0].model.image_size: a 4×4 image is too small for this CNN",
        ),
        (
            lambda r: r["tasks"][1]["model"].update(hidden=10**8),
            "tasks[1].scenarios[0].model: 70,100,000,100 parameters is out of range",
        ),
        (
            lambda r: r["tasks"][2]["model"]["config"].update(hidden_size=2**20),
            "tasks[2].scenarios[0].model: ",
        ),
        (
            lambda r: r["tasks"][2]["model"]["config"].update(num_hidden_layers=10**9),
            "parameters is out of range",
        ),
        (
            lambda r: r["tasks"][2]["model"]["config"].update(vocab_size=10**9),
            "model.config.vocab_size: is set by the generator; leave it out",
        ),
        (
            lambda r: r["tasks"][2]["model"]["config"].update(num_attention_heads=3),
            "hidden_size 32 is not a multiple of num_attention_heads 3",
        ),
        (
            lambda r: r["tasks"][2]["model"]["config"].update(hidden_act=["gelu"] * 3),
            "model.config.hidden_act: expected a number, text, true/false or null",
        ),
        (
            lambda r: r.update(tasks=r["tasks"] * 26),
            "tasks: 104 tasks is out of range (allowed: 1 to 100)",
        ),
        (
            lambda r: r["tasks"][0].update(scenarios=r["tasks"][0]["scenarios"] * 34),
            "tasks[0].scenarios: 102 scenarios is out of range (allowed: 1 to 100)",
        ),
    ],
)
def test_counts_and_sizes_beyond_their_bounds_are_refused_with_the_range(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(PresetError) as error:
        load_preset(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text, text
    assert "\n" not in text and len(text) < 300


def test_bounds_are_far_beyond_micos_own_setup():
    from generator.spec import presets

    mico = load_preset("mico")
    assert max(mico.models.values()) * 100 <= presets.MAX_MODELS
    assert len(mico.tasks) * 25 <= presets.MAX_TASKS
    assert max(len(t.scenarios) for t in mico.tasks) * 30 <= presets.MAX_SCENARIOS
    scenarios = [s for t in mico.tasks for s in t.scenarios]
    assert max(s.training.epochs for s in scenarios) * 100 <= presets.MAX_EPOCHS
    assert max(s.epsilon or 0 for s in scenarios) * 10 <= presets.MAX_EPSILON
    official = [k.official_size for k in DATASET_KINDS.values() if k.official_size]
    assert max(official) * 5 <= presets.MAX_DATASET_SIZE
    assert max(s.dataset.max_length for s in scenarios) <= presets.MAX_TEXT_LENGTH
    # roberta-base, MICO's largest model, has 125 M parameters.
    assert 125_000_000 * 8 <= presets.MAX_PARAMETERS


# --------------------------------------------------------------- model sizes match the modules


@pytest.mark.parametrize(
    "arch",
    [
        {"arch": "cnn"},  # MICO's CIFAR-10 CNN
        {
            "arch": "cnn",
            "in_channels": 1,
            "image_size": 8,
            "channels": [16, 32, 32],
            "conv1_kernel": 3,
            "conv1_stride": 1,
            "conv1_padding": 1,
        },
        {"arch": "cnn", "image_size": 9, "conv1_kernel": 2, "conv1_stride": 1, "conv1_padding": 0},
        {"arch": "cnn", "image_size": 23, "conv1_kernel": 5, "conv1_stride": 3, "conv1_padding": 2},
        {"arch": "mlp"},
        {"arch": "mlp", "in_features": 17, "hidden": 5, "num_classes": 3},
    ],
)
def test_computed_cnn_and_mlp_sizes_are_those_of_the_torch_modules(arch):
    import torch
    from micokit.architectures import build_model

    from generator.spec.presets import _cnn_size, _mlp_size

    model = build_model(arch)
    parameters = sum(p.numel() for p in model.parameters())
    if arch["arch"] == "mlp":
        assert _mlp_size(arch) == parameters
        return
    computed, largest = _cnn_size(Path("x.yaml"), "model", arch)
    assert computed == parameters
    sizes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
        for m in model.features
    ]
    size = arch.get("image_size", 32)
    image = torch.zeros(1, arch.get("in_channels", 3), size, size)
    model(image)
    for hook in hooks:
        hook.remove()
    assert largest == max(sizes + [image.numel()])


def test_a_cnn_geometry_is_refused_exactly_where_torch_cannot_build_it():
    from micokit.architectures import build_model

    from generator.spec.presets import _cnn_size

    for size in range(1, 12):
        arch = {
            "arch": "cnn",
            "image_size": size,
            "conv1_kernel": 3,
            "conv1_stride": 1,
            "conv1_padding": 0,
            "channels": [2, 2, 2],
        }
        try:
            build_model(arch)
            built = True
        except RuntimeError:
            built = False
        try:
            _cnn_size(Path("x.yaml"), "model", arch)
            accepted = True
        except PresetError as error:
            assert "too small for this CNN" in str(error)
            accepted = False
        assert accepted == built, size


def test_computed_roberta_size_is_that_of_the_transformers_model():
    from transformers import RobertaConfig, RobertaForSequenceClassification

    from generator.spec.presets import DatasetSpec, _roberta_size

    dataset = DatasetSpec(kind="synthetic_text", size=100, vocab_size=300, max_length=20)
    config = {
        "hidden_size": 16,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "intermediate_size": 24,
    }
    model = RobertaForSequenceClassification(
        RobertaConfig(
            vocab_size=300, num_labels=2, max_position_embeddings=22, type_vocab_size=1, **config
        )
    )
    expected = sum(p.numel() for p in model.parameters())
    assert _roberta_size(Path("x.yaml"), "model", config, dataset) == expected


def test_roberta_size_defaults_are_robertaconfigs():
    import inspect

    from transformers import RobertaConfig

    from generator.spec.presets import ROBERTA_SIZE_DEFAULTS

    parameters = inspect.signature(RobertaConfig.__init__).parameters
    assert {key: parameters[key].default for key in ROBERTA_SIZE_DEFAULTS} == ROBERTA_SIZE_DEFAULTS


def test_the_keys_refused_in_config_are_those_training_sets_itself():
    from types import SimpleNamespace

    from generator.build import training
    from generator.spec.presets import ROBERTA_SET_BY_GENERATOR

    scenario = load_preset("demo").task("text").scenario("text_inf")

    class Tokenizer(list):
        pad_token_id, bos_token_id, eos_token_id = 1, 0, 2

    arguments = {}

    def config_cls(**kwargs):
        arguments.update(kwargs)
        return kwargs

    data = SimpleNamespace(tokenizer=Tokenizer(range(5)))
    training._tiny_roberta(config_cls, lambda config: config, scenario, data)
    assert set(arguments) - set(scenario.model["config"]) == ROBERTA_SET_BY_GENERATOR


# ------------------------------------------------------------------- YAML bombs and nesting


def _demo_text() -> str:
    return (ROOT / "presets" / "demo.yaml").read_text()


def _laughs(levels: int, width: int = 10) -> str:
    """A billion-laughs mapping: each level lists the previous one ``width`` times."""
    entries = ["l0: &l0 [ha, ha, ha, ha, ha, ha, ha, ha, ha, ha]"]
    for i in range(1, levels):
        entries.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "{" + ", ".join(entries) + "}"


def test_an_alias_bomb_in_the_roberta_config_is_refused_at_load(tmp_path):
    text = _demo_text()
    config = "config: {hidden_size: 32,"
    assert config in text
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace(config, f"config: {{bomb: {_laughs(9)}, hidden_size: 32,"))
    with pytest.raises(PresetError) as error:
        load_preset(path)
    text = str(error.value)
    assert text.startswith(f"{path}: line ") and "more than 100,000 values" in text
    assert "\n" not in text


def test_a_merge_key_bomb_is_refused_before_the_constructor_copies_it(tmp_path):
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for i in range(1, 9):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 10) + "]}")
    path = tmp_path / "merge.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PresetError, match="more than 100,000 values"):
        load_preset(path)


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: x\nmodels: &a [*a]\n", "line 2: a YAML alias refers to a value that contains it"),
        ("name: x\nmodels: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 32 levels"),
        ("name: x\nmodels: " + "{a: " * 40 + "1" + "}" * 40 + "\n", "nested more than 32 levels"),
        ("models: {train: 1" + "0" * 5000 + "}\n", "not valid YAML (a value Python cannot read"),
        ("models: " + "x" * (1024 * 1024) + "\n", "too large for a preset"),
    ],
)
def test_yaml_beyond_the_loaders_bounds_is_one_line_naming_the_file(tmp_path, text, message):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)
    assert "\n" not in str(error.value) and len(str(error.value)) < 300


def test_a_long_file_stops_at_the_value_bound_while_it_is_composed(tmp_path, monkeypatch):
    from generator.spec import safeyaml

    # The real bound (100,000) takes PyYAML about 9 s to reach; the rule is the same at 1,000.
    monkeypatch.setattr(safeyaml, "MAX_VALUES", 1_000)
    path = tmp_path / "long.yaml"
    path.write_text("name: x\nmodels: [" + ", ".join(["1"] * 100_000) + "]\n")
    with pytest.raises(PresetError, match=r"line 2: more than 1,000 YAML values"):
        load_preset(path)


def test_aliases_within_the_bounds_still_work(tmp_path):
    dp = "training: {lr: 3.0, momentum: 0.0, batch_size: 300, epochs: 8, max_grad_norm: 1.0}"
    text = _demo_text()
    assert text.count(dp) == 2
    text = text.replace(dp, dp.replace("training: ", "training: &dp "), 1)
    text = text.replace(dp, "training: *dp", 1)
    path = tmp_path / "aliases.yaml"
    path.write_text(text)
    assert "*dp" in text
    preset = load_preset(path)
    image = preset.task("image")
    assert image.scenario("image_lo").training == image.scenario("image_hi").training


@pytest.mark.parametrize(
    "command,hostile", [("status", "count"), ("generate", "count"), ("generate", "bomb")]
)
def test_status_and_generate_refuse_hostile_presets_at_once(tmp_path, command, hostile):
    # Before the bounds, both hung: 2.5 GB after 60 s for the count, forever for the bomb.
    text = _demo_text()
    if hostile == "count":
        text = text.replace("models: {train: 8,", "models: {train: 1000000000000,")
    else:
        text = text.replace(
            "config: {hidden_size: 32,", f"config: {{x: {_laughs(9)}, hidden_size: 32,"
        )
    path = tmp_path / f"{hostile}.yaml"
    path.write_text(text)
    store = tmp_path / "store"
    argv = [command, "--preset", str(path), "--store", str(store)]
    if command == "generate":
        argv += ["--executor", "inline", "--quiet"]
    result = subprocess.run(
        [sys.executable, "-m", "generator", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert not store.exists()


# --------------------------------------------------------------------- ids and texts


@pytest.mark.parametrize(
    "mutate,message",
    [
        (
            lambda r: r["datasets"].update({"../../outside": r["datasets"].pop("purchase")}),
            "datasets: expected an id of letters, digits, '_' and '-'",
        ),
        (
            lambda r: r["datasets"].update({"a/b": r["datasets"].pop("digits")}),
            "datasets: expected an id",
        ),
        (lambda r: r["datasets"].update({5: {"kind": "digits"}}), "datasets: expected an id"),
        (
            lambda r: r["datasets"].update({"Digits": {"kind": "digits"}}),
            "datasets: duplicate dataset name 'digits' (ids are compared ignoring case",
        ),
        (lambda r: r["tasks"][0].update(id="x" * 65), "tasks[0].id: expected an id"),
        (lambda r: r["tasks"][0].update(id="-image"), "tasks[0].id: expected an id"),
        (lambda r: r["tasks"][1].update(id="IMAGE"), "tasks[1].id: duplicate task id 'IMAGE'"),
        (
            lambda r: r["tasks"][0]["scenarios"][1].update(id="Image_Inf"),
            "tasks[0].scenarios[1].id: duplicate scenario id 'Image_Inf'",
        ),
        (lambda r: r["tasks"][0].update(dataset=["digits"]), "unknown dataset ['digits']"),
        (
            lambda r: r["tasks"][3]["scenarios"][0].update(based_on=["image_lo"]),
            "no earlier scenario named ['image_lo']",
        ),
        (lambda r: r.update(title="two\nlines"), "title: control character '\\n'"),
        (lambda r: r.update(title=5), "title: expected text, got 5"),
        (lambda r: r.update(name="a\x1bb"), "name: control character '\\x1b'"),
        (
            lambda r: r["tasks"][0].update(title="t" * 201),
            "201 characters is too long (at most 200)",
        ),
        (
            lambda r: r["tasks"][0].update(description="d\x00"),
            "tasks[0].description: control character '\\x00'",
        ),
        (
            lambda r: r["tasks"][0]["scenarios"][0].update(label="ε\r"),
            "tasks[0].scenarios[0].label: control character '\\r'",
        ),
        (
            lambda r: r["datasets"].update(real={"kind": "cifar10", "path": "a\x00b"}),
            "datasets.real.path: control character in the path",
        ),
        (
            lambda r: r["datasets"].update(real={"kind": "cifar10", "path": "d/" + "x" * 256}),
            "datasets.real.path: path too long",
        ),
    ],
)
def test_ids_texts_and_paths_are_checked(tmp_path, mutate, message):
    path = _write(tmp_path, mutate)
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(path) in str(error.value) and message in str(error.value), str(error.value)
    assert "\n" not in str(error.value)


def test_descriptions_may_span_lines(tmp_path):
    path = _write(tmp_path, lambda r: r["tasks"][0].update(description="one\n\ttwo\n"))
    assert load_preset(path).tasks[0].description == "one\n\ttwo\n"


# --------------------------------------------------------------------------- report thresholds


def test_report_thresholds_default_and_load(tmp_path):
    from generator.spec.presets import ReportSpec

    assert load_preset("demo").report == load_preset("mico").report == ReportSpec()
    defaults = ReportSpec()
    assert 0 < defaults.min_gain_over_chance < 1 and 0 < defaults.min_share_of_nondp_gain < 1
    path = _write(tmp_path, lambda r: r.update(report={"min_gain_over_chance": 0}))
    assert load_preset(path).report == ReportSpec(0.0, defaults.min_share_of_nondp_gain)
    path = _write(tmp_path, lambda r: r.update(report={"min_share_of_nondp_gain": "1e-1"}))
    assert load_preset(path).report.min_share_of_nondp_gain == 0.1
    assert load_preset(_write(tmp_path, lambda r: r.update(report=None))).report == defaults


@pytest.mark.parametrize(
    "report,message",
    [
        ([0.1], "report: expected a mapping, got list"),
        ({"min_gain": 0.1}, "report: unknown key 'min_gain' (allowed: min_gain_over_chance, "),
        (
            {"min_gain_over_chance": 1.5},
            "report.min_gain_over_chance: 1.5 is out of range (allowed: at least 0 and at most 1)",
        ),
        (
            {"min_share_of_nondp_gain": -0.2},
            "report.min_share_of_nondp_gain: expected a non-negative value, got -0.2",
        ),
        ({"min_share_of_nondp_gain": True}, "report.min_share_of_nondp_gain: expected a number"),
        ({"min_gain_over_chance": "half"}, "report.min_gain_over_chance: expected a number"),
    ],
)
def test_report_thresholds_are_checked_at_load(tmp_path, report, message):
    path = _write(tmp_path, lambda r: r.update(report=report))
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert "\n" not in str(error.value)
