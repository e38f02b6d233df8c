"""``python -m generator plan``: σ, schedule, sizes and timings of the tiny preset."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from generator.build.plan import EPSILON_TOLERANCE, SYNTHETIC_NOTE, memory_estimate, schedule
from tests.conftest import TINY_PRESET, run_generator


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[str, dict]:
    """(stdout, JSON) of one ``plan`` run on the tiny preset with one timed step."""
    out = tmp_path_factory.mktemp("plan") / "plan.json"
    result = run_generator(
        "plan",
        "--preset",
        str(TINY_PRESET),
        "--device",
        "cpu",
        "--steps",
        "1",
        "--batch-models",
        "4",
        "--json",
        str(out),
        "--quiet",
    )
    return result.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_prints_a_row_per_scenario(planned, tiny_preset) -> None:
    stdout, result = planned
    assert SYNTHETIC_NOTE in stdout
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    by_id = {row["scenario"]: row for row in result["scenarios"]}
    for task in tiny_preset.tasks:
        for scenario in task.scenarios:
            cells = rows[scenario.id]
            row = by_id[scenario.id]
            assert f"{row['steps']:,}" in cells
            assert f"{row['sample_rate']:.4g}" in cells
            if scenario.is_dp:
                assert f"{row['sigma']:.4f}" in cells
                assert f"{row['epsilon_achieved']:.3f}" in cells
            else:
                assert cells[1] == "∞" and cells[2] == "—"
    assert "device-hours" in stdout and "random weights" in stdout


def test_json_structure(planned, tiny_preset) -> None:
    _, result = planned
    assert result["preset"] == tiny_preset.name and result["device"] == "cpu"
    assert result["data"] == SYNTHETIC_NOTE
    assert result["timed_steps"] == 1 and result["batch_models"] == 4
    ids = [s.id for t in tiny_preset.tasks for s in t.scenarios]
    assert [row["scenario"] for row in result["scenarios"]] == ids
    per_scenario = sum(tiny_preset.models.values())
    for row in result["scenarios"]:
        assert row["models"] == per_scenario
        assert row["parameters"] > 0 and row["memory_bytes"]["standard"] > 0
        standard = row["timing"]["standard"]
        assert standard["step_s"] > 0
        assert math.isclose(standard["model_s"], standard["step_s"] * row["steps"])
        if row["arch"] == "mlp":
            batched = row["timing"]["batched"]
            assert batched["batch_models"] == 4
            assert math.isclose(batched["model_s"], batched["step_s"] * row["steps"] / 4)
        else:
            assert "batched" not in row["timing"]
    totals = result["totals"]
    assert totals["models"] == len(ids) * per_scenario
    hours = sum(r["models"] * r["timing"]["standard"]["model_s"] for r in result["scenarios"])
    assert math.isclose(totals["device_hours"]["standard"], hours / 3600)
    assert totals["device_hours"]["batched"] <= totals["device_hours"]["standard"] * 1.5


def test_sigma_spends_the_target_epsilon(planned, tiny_preset) -> None:
    """An independent PRV accountant gives ε within get_noise_multiplier's tolerance."""
    from opacus.accountants import PRVAccountant

    _, result = planned
    dp = [row for row in result["scenarios"] if row["epsilon"] is not None]
    assert dp
    seen = {}
    for row in dp:
        key = (row["sigma"], row["sample_rate"], row["steps"], row["delta"])
        if key not in seen:
            accountant = PRVAccountant()
            accountant.history = [key[:3]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seen[key] = accountant.get_epsilon(delta=row["delta"])
        epsilon = seen[key]
        assert row["epsilon"] - EPSILON_TOLERANCE - 1e-9 <= epsilon <= row["epsilon"] + 1e-9
        assert math.isclose(epsilon, row["epsilon_achieved"], rel_tol=1e-9)
        assert row["epsilon_ok"] is True


def test_schedule_is_the_loaders(tiny_preset) -> None:
    """q and steps from the formula equal what _train_dp / _train_plain read off their loader."""
    for task in tiny_preset.tasks:
        for scenario in task.scenarios:
            plan = schedule(scenario)
            spec = scenario.training
            loader = DataLoader(range(scenario.n), batch_size=spec.batch_size)
            assert plan["steps"] == spec.epochs * len(loader)
            expected = 1 / len(loader) if scenario.is_dp else spec.batch_size / scenario.n
            assert plan["sample_rate"] == expected


def test_plan_matches_a_trained_model(planned, tiny_preset) -> None:
    """One DP and one ε = ∞ model trained by train_model record the plan's q, steps and σ."""
    from generator.build.datasets import load_dataset
    from generator.build.training import train_model

    _, result = planned
    by_id = {row["scenario"]: row for row in result["scenarios"]}
    task = tiny_preset.task("tabular")
    for scenario_id in ("tabular_hi", "tabular_inf"):
        scenario = task.scenario(scenario_id)
        data = load_dataset(scenario.dataset, None, scenario.model)
        train = np.arange(scenario.n)
        held_out = np.arange(scenario.n, scenario.n + scenario.m)
        trained = train_model(scenario, data, train, held_out, 1, torch.device("cpu"))
        metadata, row = trained.metadata, by_id[scenario_id]
        assert metadata["sample_rate"] == row["sample_rate"]
        assert metadata["steps"] == row["steps"]
        if scenario.is_dp:
            assert metadata["steps_planned"] == row["steps"]
            assert metadata["noise_multiplier"] == row["sigma"]
            assert metadata["max_physical_batch_size"] == row["physical_batch"]


def test_memory_formula(tiny_preset) -> None:
    scenario = tiny_preset.task("tabular").scenario("tabular_inf")  # Adam, batch 32, ε = ∞
    assert memory_estimate(scenario, 100, (10, 7)) == 4 * (100 * 4 + 32 * 10)
    dp = tiny_preset.task("tabular").scenario("tabular_hi")  # ghost, batch 128
    assert memory_estimate(dp, 100, (10, 7)) == 4 * (100 * 4 + 128 * 10 + 128 * 7 + 100)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--device", "tpu"], "--device 'tpu'"),
        (["--device", "cuda:64"], "CUDA device(s)"),
        (["--steps", "0"], "--steps '0'"),
        (["--steps", "many"], "--steps 'many'"),
        (["--batch-models", "-1"], "--batch-models '-1'"),
        (["--preset", "no-such-preset"], "preset file not found"),
    ],
)
def test_bad_input_is_one_line(args, expected) -> None:
    base = ["plan", "--preset", str(TINY_PRESET), "--quiet"]
    result = run_generator(*base, *args, check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and expected in line
    assert result.stdout == ""


def test_pretrained_roberta_is_built_from_its_config(tmp_path) -> None:
    """A ``pretrained`` RoBERTa: random weights from the config.json under the data directory."""
    from transformers import RobertaConfig

    from generator.build.plan import build_model
    from generator.spec.presets import load_preset

    preset_file = tmp_path / "pretrained.yaml"
    preset_file.write_text(
        "name: pretrained\nmodels: {train: 1, dev: 1, final: 1}\n"
        "datasets:\n  text: {kind: synthetic_text, size: 100, max_length: 16}\n"
        "tasks:\n  - id: text\n    dataset: text\n    n: 40\n    m: 10\n"
        "    model: {arch: roberta, pretrained: small-roberta}\n"
        "    training: {optimizer: adam, lr: 0.001, batch_size: 8, epochs: 1}\n"
        "    scenarios: [{id: text_inf, epsilon: null}]\n",
        encoding="utf-8",
    )
    scenario = load_preset(preset_file).task("text").scenario("text_inf")
    (tmp_path / "small-roberta").mkdir()
    config = RobertaConfig(
        vocab_size=300,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=18,
        type_vocab_size=1,
    )
    config.to_json_file(str(tmp_path / "small-roberta" / "config.json"))
    model, source = build_model(scenario, tmp_path)
    assert model.config.hidden_size == 16 and model.config.num_labels == 2
    assert "config.json" in source and "random weights" in source
