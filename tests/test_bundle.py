"""Bundles: platform checks pass, columns match score keys, zips are reproducible and clean."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
import yaml

from generator.bundle import build_task_bundles, write_checksums
from generator.checkbundle import check_bundles
from generator.pages import render_codabench_yaml, render_codalab_yaml, score_keys
from generator.presets import load_preset
from generator.store import read_lines


@pytest.fixture(scope="module")
def bundles(tiny_preset, tiny_export, tmp_path_factory):
    public, reference = tiny_export
    out = tmp_path_factory.mktemp("bundles")
    for task in tiny_preset.tasks:
        build_task_bundles(tiny_preset, task, public, reference, out)
    write_checksums(out)
    return out


@pytest.mark.parametrize("preset_name", ["demo", "mico"])
def test_leaderboard_columns_are_exactly_the_scorer_keys(preset_name):
    preset = load_preset(preset_name)
    for task in preset.tasks:
        keys = score_keys(len(task.scenarios))
        codalab = yaml.safe_load(render_codalab_yaml(preset, task))
        assert list(codalab["leaderboard"]["columns"]) == keys
        codabench = yaml.safe_load(render_codabench_yaml(preset, task))
        columns = [c["key"] for c in codabench["leaderboards"][0]["columns"]]
        assert sorted(columns) == sorted(keys) and columns[0] == "average_TPR_FPR_1000"


def test_dp_distinguisher_boards_are_labelled_by_dataset():
    preset = load_preset("mico")
    codalab = yaml.safe_load(render_codalab_yaml(preset, preset.task("ddp")))
    labels = [b["label"] for b in codalab["leaderboard"]["leaderboards"].values()]
    assert labels[1:] == ["cifar10", "purchase100", "sst2"]


def test_every_bundle_passes_the_platform_checks(tiny_preset, bundles):
    assert check_bundles(tiny_preset, bundles) == []


def test_checker_catches_a_broken_bundle(tiny_preset, bundles, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in bundles.glob("*.zip"):
        (broken / path.name).write_bytes(path.read_bytes())
    target = broken / "image-codalab.zip"
    with (
        zipfile.ZipFile(bundles / "image-codalab.zip") as source,
        zipfile.ZipFile(target, "w") as out,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "competition.yaml":
                competition = yaml.safe_load(data)
                competition["leaderboard"]["columns"]["scenario1_not_a_score"] = {
                    "leaderboard": competition["leaderboard"]["leaderboards"]["Results_1"],
                    "label": "x", "rank": 9,
                }  # fmt: skip
                competition["unknown_key"] = True
                data = yaml.safe_dump(competition).encode()
            out.writestr(item, data)
    problems = check_bundles(tiny_preset, broken)
    assert any("unknown top-level keys ['unknown_key']" in p for p in problems)
    assert any("columns without scores ['scenario1_not_a_score']" in p for p in problems)


def test_building_twice_gives_identical_checksums(tiny_preset, tiny_export, bundles, tmp_path):
    public, reference = tiny_export
    for task in tiny_preset.tasks:
        build_task_bundles(tiny_preset, task, public, reference, tmp_path)
    assert write_checksums(tmp_path).read_text() == (bundles / "SHA256SUMS").read_text()


def test_checksums_cover_every_bundle(bundles):
    listed = dict(
        line.split("  ")[::-1] for line in (bundles / "SHA256SUMS").read_text().splitlines()
    )
    for path in bundles.glob("*.zip"):
        assert listed[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_zips_have_no_platform_junk_and_sorted_entries(bundles):
    for path in bundles.glob("*.zip"):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert names == sorted(names)
            assert not [
                n for n in names if "__MACOSX" in n or ".DS_Store" in n or "__pycache__" in n
            ]
            assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_participant_archive_holds_no_dev_or_final_ground_truth(tiny_store, bundles):
    secrets = set()
    for model in [*tiny_store.glob("*/*/dev/model_*"), *tiny_store.glob("*/*/final/model_*")]:
        secrets.add((model / "seed_membership").read_text().strip())
        secrets.add(str(json.loads((model / "private.json").read_text())["training_seed"]))
        secrets.add("".join(f"{v}\n" for v in read_lines(model / "solution.csv")))
    for path in bundles.glob("*-data.zip"):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) > 3 and parts[2] in ("dev", "final"):
                    assert parts[-1] not in (
                        "solution.csv",
                        "training_indices.csv",
                        "seed_membership",
                        "private.json",
                    )
                data = archive.read(name)
                assert not [s for s in secrets if s.encode() in data], name
