"""Bundles: platform checks pass, columns match score keys, zips are reproducible and clean.

check-bundle names every damaged, misnamed or leaking bundle in one line and goes on to the next;
the bundle step refuses a public tree that holds ground truth; the checksum lists vouch only for
what the bundle step wrote, and the published one only for the participant archives.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile

import pytest
import yaml

from generator.build.store import read_lines
from generator.publish.bundle import (
    CHECKSUM_FILES,
    ORGANIZER_SUMS,
    PUBLISHED_SUMS,
    build_task_bundles,
    write_checksums,
)
from generator.publish.checkbundle import (
    check_bundles,
    check_codabench,
    check_codalab,
    check_data_archive,
    first_error,
)
from generator.publish.columns import score_keys
from generator.publish.export import ExportError
from generator.publish.platforms import render_codabench_yaml, render_codalab_yaml
from generator.publish.zips import write_zip
from generator.spec.presets import load_preset

from .conftest import TINY_PRESET, run_generator


@pytest.mark.parametrize("preset_name", ["demo", "mico"])
def test_leaderboard_columns_are_exactly_the_scorer_keys(preset_name):
    preset = load_preset(preset_name)
    for task in preset.tasks:
        keys = score_keys(len(task.scenarios))
        codalab = yaml.safe_load(render_codalab_yaml(preset, task))
        assert sorted(codalab["leaderboard"]["columns"]) == sorted(keys)
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
    target = tmp_path / "image-codalab.zip"
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
                    "label": "x",
                    "rank": 9,
                }
                competition["unknown_key"] = True
                data = yaml.safe_dump(competition).encode()
            out.writestr(item, data)
    problems = check_codalab(tiny_preset, tiny_preset.task("image"), target)
    assert any("unknown top-level keys ['unknown_key']" in p for p in problems)
    assert any("columns without scores ['scenario1_not_a_score']" in p for p in problems)


def test_building_twice_gives_identical_checksums(tiny_preset, tiny_export, bundles, tmp_path):
    public, reference = tiny_export
    written = []
    for task in tiny_preset.tasks:
        written += build_task_bundles(tiny_preset, task, public, reference, tmp_path)
    for first, again in zip(write_checksums(tmp_path, written), CHECKSUM_FILES, strict=True):
        assert first.read_text() == (bundles / again).read_text()


def _listed(path):
    return dict(line.split("  ")[::-1] for line in path.read_text().splitlines())


def test_published_checksums_list_the_participant_archives_and_nothing_else(bundles):
    published = _listed(bundles / PUBLISHED_SUMS)
    assert sorted(published) == sorted(p.name for p in bundles.glob("*-data.zip"))
    for name, digest in published.items():
        assert hashlib.sha256((bundles / name).read_bytes()).hexdigest() == digest


def test_organizer_checksums_list_the_platform_bundles_that_hold_the_solutions(bundles):
    organizer = _listed(bundles / ORGANIZER_SUMS)
    platform = [p for p in bundles.glob("*.zip") if not p.name.endswith("-data.zip")]
    assert sorted(organizer) == sorted(p.name for p in platform)
    for path in platform:
        assert organizer[path.name] == hashlib.sha256(path.read_bytes()).hexdigest()


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


# --------------------------------------------------------------------------- damaged bundles


def _damage(data: bytes, kind: str) -> bytes:
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "random bytes":
        return os.urandom(4096)
    if kind == "empty":
        return b""
    middle = len(data) // 2  # "flipped mid-zip": 64 bytes inverted inside an entry's data
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


@pytest.mark.parametrize("kind", ["truncated", "random bytes", "empty", "flipped mid-zip"])
@pytest.mark.parametrize("suffix", ["codalab", "codabench", "data"])
def test_a_damaged_bundle_is_one_line_naming_it_and_the_check_goes_on(
    bundles, tmp_path, kind, suffix
):
    damaged = tmp_path / f"image-{suffix}.zip"
    damaged.write_bytes(_damage((bundles / damaged.name).read_bytes(), kind))
    result = run_generator(
        "check-bundle", "--preset", str(TINY_PRESET), "--bundles", str(tmp_path), check=False
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    about = [line for line in result.stderr.splitlines() if str(damaged) in line]
    assert len(about) == 1 and about[0].startswith(f"error: {damaged}: damaged")
    assert f"{tmp_path / 'tabular-codalab.zip'}: bundle not found" in result.stderr  # went on


# --------------------------------------------------------------------------- another task's bundle


@pytest.mark.parametrize(
    "suffix,check",
    [("codalab", check_codalab), ("codabench", check_codabench), ("data", check_data_archive)],
)
def test_another_tasks_bundle_is_named_for_its_task_in_one_line(
    tiny_preset, bundles, tmp_path, suffix, check
):
    copied = tmp_path / f"tabular-{suffix}.zip"
    shutil.copy(bundles / f"image-{suffix}.zip", copied)
    problems = check(tiny_preset, tiny_preset.task("tabular"), copied)
    what = "archive" if suffix == "data" else "bundle"
    assert problems == [
        f"{copied}: this {what} is for task image, not tabular (copied or renamed?)"
    ]


def test_scorer_failures_are_reported_by_their_first_error_whole_words():
    stderr = (
        "warning: prediction.csv has a trailing blank line\n"
        "submission error: 12 problems found (showing the first 10)\n"
        "  - no predictions for scenario 'image_inf', phase 'dev': expected 2 files "
        "image/image_inf/dev/model_<i>/prediction.csv\n"
        + "  - no predictions for scenario 'image_hi', phase 'dev': expected 2 files\n"
        * 9
    )
    line = first_error(stderr, limit=120)
    assert line.startswith("submission error: 12 problems found (showing the first 10); first:")
    assert "\n" not in line and len(line) <= 120 and line.endswith(" …")
    assert line.removesuffix(" …").split()[-1] in stderr.split()  # cut between words
    traceback = 'Traceback (most recent call last):\n  File "score.py", line 3\nValueError: bad\n'
    assert first_error(traceback) == "ValueError: bad"
    assert first_error("") == "no message on stderr"


# --------------------------------------------------------------------------- ground truth


POLLUTIONS = {
    # --public and --reference given the same folder: the reference tree lands in the public one
    "reference tree inside": lambda public, reference: shutil.copytree(
        reference / "image" / "dev", public / "image" / "dev"
    ),
    "dev solution.csv": lambda public, reference: shutil.copy(
        next((reference / "image" / "dev").rglob("solution.csv")),
        public / "image" / "image_inf" / "dev" / "model_0" / "solution.csv",
    ),
    "final seed_membership": lambda public, reference: (
        public / "image" / "image_lo" / "final" / "model_1" / "seed_membership"
    ).write_text("1234\n"),
    "train private.json": lambda public, reference: (
        public / "image" / "image_hi" / "train" / "model_0" / "private.json"
    ).write_text("{}\n"),
}


@pytest.mark.parametrize("pollution", sorted(POLLUTIONS))
def test_bundle_refuses_a_public_tree_holding_ground_truth(
    tiny_preset, tiny_export, tmp_path, pollution
):
    public, reference = tiny_export
    polluted = tmp_path / "public"
    shutil.copytree(public / "image", polluted / "image")
    POLLUTIONS[pollution](polluted, reference)
    out = tmp_path / "bundles"
    with pytest.raises(ExportError, match="ground truth in the public tree") as refused:
        build_task_bundles(tiny_preset, tiny_preset.task("image"), polluted, reference, out)
    offending = str(refused.value).split(": ")[0]
    assert offending.startswith(str(polluted / "image")) and os.path.isfile(offending)
    assert "\n" not in str(refused.value)
    assert not out.exists() or not any(out.iterdir())  # nothing written, not even halfway


def test_ddp_bundle_still_publishes_its_disclosed_training_data(bundles):
    with zipfile.ZipFile(bundles / "ddp-data.zip") as archive:
        names = archive.namelist()
    assert any(n.endswith("/final/model_0/nonchallenge_training_indices.csv") for n in names)
    assert any(n.endswith("/train/model_0/solution.csv") for n in names)


@pytest.mark.parametrize(
    "leak",
    [
        "image/image_inf/dev/model_0/solution.csv",
        "image/image_lo/final/model_1/training_indices.csv",
        "image/dev/image/image_inf/dev/model_0/solution.csv",
        "image/image_hi/train/model_2/private.json",
    ],
)
def test_check_bundle_fails_a_data_archive_holding_ground_truth(
    tiny_preset, bundles, tmp_path, leak
):
    leaky = tmp_path / "image-data.zip"
    with zipfile.ZipFile(bundles / "image-data.zip") as archive:
        entries = [(name, archive.read(name)) for name in archive.namelist()]
    write_zip(leaky, [*entries, (leak, b"1\n0\n")])
    problems = check_data_archive(tiny_preset, tiny_preset.task("image"), leaky)
    assert problems == [f"{leaky}: holds ground truth participants must not see: {leak}"]


# --------------------------------------------------------------------------- checksums


def test_checksums_list_only_the_bundles_this_run_wrote(tiny_preset, tiny_export, tmp_path):
    public, reference = tiny_export
    (tmp_path / "notes.txt").write_text("organizer notes\n")
    (tmp_path / "oldtask-data.zip").write_bytes(b"an old task's archive")
    written = build_task_bundles(
        tiny_preset, tiny_preset.task("image"), public, reference, tmp_path
    )
    expected = sorted(path.name for path in written)
    sums = "".join(path.read_text() for path in write_checksums(tmp_path, written))
    assert sorted(line.split("  ")[1] for line in sums.splitlines()) == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_archived_trees_leave_out_desktop_and_jupyter_leftovers(tmp_path):
    from generator.publish.zips import tree_entries

    kept = ["kit.py", "notebooks/image.ipynb"]
    left_out = ["notebooks/.ipynb_checkpoints/image.ipynb", "__MACOSX/kit.py", "._kit.py"]
    for name in [*kept, *left_out, ".DS_Store", "__pycache__/kit.pyc"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert [name for name, _ in tree_entries(tmp_path)] == kept
