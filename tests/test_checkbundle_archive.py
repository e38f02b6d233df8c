"""check-bundle: the participant archive must be usable, the checksums must still vouch.

A participant archive that lost a file (a model's weights, an index file, a tokenizer) is one
line naming the archive and the first entry micokit cannot use; ``SHA256SUMS`` and
``SHA256SUMS.organizer`` must still match the files beside them; a pass says what was checked.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from generator.publish.bundle import ORGANIZER_SUMS, PUBLISHED_SUMS
from generator.publish.checkbundle import check_data_archive, checksum_problems
from generator.publish.zips import write_zip

from .conftest import TINY_PRESET, run_generator

DEV_WEIGHTS = "image/image_inf/dev/model_0/model.safetensors"


@pytest.fixture
def copied(bundles, tmp_path) -> Path:
    """A private copy of the session's bundles folder, free to damage."""
    target = tmp_path / "bundles"
    shutil.copytree(bundles, target)
    return target


def _rewrite(path: Path, drop: tuple[str, ...] = (), replace: dict | None = None) -> None:
    """Write the zip again without the entries ``drop``, with ``replace``'s contents."""
    with zipfile.ZipFile(path) as archive:
        entries = [(n, archive.read(n)) for n in archive.namelist() if n not in drop]
    replace = replace or {}
    write_zip(path, [(name, replace.get(name, data)) for name, data in entries])


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# --------------------------------------------------------------------------- participant archive


def test_a_lost_dev_weights_file_is_one_line_naming_the_archive_and_the_file(tiny_preset, copied):
    archive = copied / "image-data.zip"
    _rewrite(archive, drop=(DEV_WEIGHTS,))
    # check_bundles runs both checks below on every bundle (the command-line tests run it whole).
    assert check_data_archive(tiny_preset, tiny_preset.task("image"), archive) == [
        f"{archive}: {DEV_WEIGHTS}: file not found"
    ]
    assert [p.split(" does not match")[0] for p in checksum_problems(copied)] == [
        f"{copied / PUBLISHED_SUMS}: image-data.zip"
    ]


def _manifest_without_dev_model_1(data: bytes) -> bytes:
    manifest = json.loads(data)
    manifest["scenarios"][0]["models"]["dev"].remove("model_1")
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    "archive_name,damage,expected",
    [
        (
            "image-data.zip",
            {"drop": (DEV_WEIGHTS, "image/image_hi/train/model_1/challenge_indices.csv")},
            f"{DEV_WEIGHTS}: file not found (and 1 more)",
        ),
        (
            "tabular-data.zip",
            {"drop": ("tabular/tabular_lo/train/model_2/solution.csv",)},
            "tabular/tabular_lo/train/model_2/solution.csv: file not found",
        ),
        (
            "text-data.zip",
            {"drop": ("text/text_hi/final/model_1/model/tokenizer.json",)},
            "text/text_hi/final/model_1/model: no tokenizer.json (nor vocab.json and merges.txt)",
        ),
        (
            "ddp-data.zip",
            {"drop": ("ddp/image_ddp/dev/model_0/nonchallenge_training_indices.csv",)},
            "ddp/image_ddp/dev/model_0/nonchallenge_training_indices.csv: file not found",
        ),
        (
            "image-data.zip",
            {"truncate": "image/image_lo/final/model_1/model.safetensors"},
            "image/image_lo/final/model_1/model.safetensors: not a readable safetensors file",
        ),
        (
            "image-data.zip",
            {"manifest": _manifest_without_dev_model_1},
            "image/manifest.json: does not list model image_inf/dev/model_1, which the preset has",
        ),
    ],
    ids=["weights and an index file", "solution", "tokenizer", "disclosed", "cut", "manifest"],
)
def test_each_file_participants_need_is_checked_with_the_kits_loader(
    tiny_preset, copied, archive_name, damage, expected
):
    archive = copied / archive_name
    with zipfile.ZipFile(archive) as zipped:
        replace = {}
        if "truncate" in damage:
            data = zipped.read(damage["truncate"])
            replace[damage["truncate"]] = data[: len(data) // 2]
        if "manifest" in damage:
            name = f"{archive_name.split('-')[0]}/manifest.json"
            replace[name] = damage["manifest"](zipped.read(name))
    _rewrite(archive, drop=damage.get("drop", ()), replace=replace)
    task = tiny_preset.task(archive_name.split("-")[0])
    problems = check_data_archive(tiny_preset, task, archive)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{archive}: {expected}")
    assert "\n" not in problems[0]


def test_an_intact_participant_archive_is_usable(tiny_preset, bundles):
    for task in tiny_preset.tasks:
        assert check_data_archive(tiny_preset, task, bundles / f"{task.id}-data.zip") == []


# --------------------------------------------------------------------------- checksums


def test_one_changed_byte_is_a_checksum_mismatch(tiny_preset, copied):
    _flip_one_byte(copied / "tabular-data.zip")
    mismatch = (
        f"{copied / PUBLISHED_SUMS}: tabular-data.zip does not match its SHA-256 (changed since "
        "the bundle step wrote the list; rebuild, or copy the file again)"
    )
    assert checksum_problems(copied) == [mismatch]


def test_a_changed_platform_bundle_is_a_mismatch_in_the_organizer_list(copied):
    _flip_one_byte(copied / "text-codabench.zip")
    [problem] = checksum_problems(copied)
    assert problem.startswith(f"{copied / ORGANIZER_SUMS}: text-codabench.zip does not match")


def test_a_missing_published_list_is_a_problem(copied):
    (copied / PUBLISHED_SUMS).unlink()
    assert checksum_problems(copied) == [
        f"{copied / PUBLISHED_SUMS}: not found (the bundle step writes it last: was it interrupted?)"
    ]


def test_a_missing_organizer_list_is_a_problem(copied):
    (copied / ORGANIZER_SUMS).unlink()
    assert checksum_problems(copied) == [
        f"{copied / ORGANIZER_SUMS}: not found (the bundle step writes it last: was it interrupted?)"
    ]


def test_a_zip_no_list_vouches_for_is_a_problem(copied):
    shutil.copy(copied / "image-codalab.zip", copied / "old-codalab.zip")
    shutil.copy(copied / "image-data.zip", copied / "old-data.zip")
    assert checksum_problems(copied) == [
        f"{copied / 'old-codalab.zip'}: not listed in {ORGANIZER_SUMS} (not written by the bundle "
        "step run that wrote the list: remove it, or rebuild)",
        f"{copied / 'old-data.zip'}: not listed in {PUBLISHED_SUMS} (not written by the bundle "
        "step run that wrote the list: remove it, or rebuild)",
    ]


def test_a_listed_file_that_is_gone_or_malformed_lines_are_named(copied):
    (copied / "ddp-data.zip").unlink()
    with open(copied / ORGANIZER_SUMS, "a", encoding="ascii") as sums:
        sums.write("not a checksum line\n")
        sums.write(f"{'0' * 64}  ../outside.zip\n")
    assert checksum_problems(copied) == [
        f"{copied / PUBLISHED_SUMS}: lists ddp-data.zip, which is not in {copied}",
        f"{copied / ORGANIZER_SUMS}: line 9 is not '<sha256>  <file name>'",
        f"{copied / ORGANIZER_SUMS}: lists ../outside.zip, which is not a file of {copied}",
    ]


# --------------------------------------------------------------------------- the command


def test_an_intact_copy_passes_and_says_what_it_checked(copied):
    result = run_generator(
        "check-bundle", "--preset", str(TINY_PRESET), "--bundles", str(copied), check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert lines[0] == f"checked {copied}:"
    assert lines[-1] == f"all bundles in {copied} pass"
    for task in ("image", "tabular", "text", "ddp"):
        line = next(line for line in lines if line.startswith(f"  {task}: "))
        assert "platform rules" in line and "nested-zip submissions" in line
        assert f"{task}-data.zip: no ground truth, all 21 models complete and readable" in line
    assert f"{PUBLISHED_SUMS} (4 files)" in result.stderr
    assert f"{ORGANIZER_SUMS} (" in result.stderr and "every digest matches" in result.stderr
    assert len(lines) <= 8


def test_a_broken_copy_exits_1_with_one_line_errors_and_no_traceback(copied):
    archive = copied / "image-data.zip"
    _rewrite(archive, drop=(DEV_WEIGHTS,))
    _flip_one_byte(copied / "tabular-codalab.zip")
    result = run_generator(
        "check-bundle", "--preset", str(TINY_PRESET), "--bundles", str(copied), check=False
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert f"error: {archive}: {DEV_WEIGHTS}: file not found" in errors
    assert any(
        line.startswith(f"error: {copied / PUBLISHED_SUMS}: image-data.zip ") for line in errors
    )
    assert any(
        line.startswith(f"error: {copied / ORGANIZER_SUMS}: tabular-codalab.zip ")
        for line in errors
    )
    assert "pass" not in result.stderr.splitlines()[-1]
