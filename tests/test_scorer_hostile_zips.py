"""Hostile archives end as one submission error (exit 1), never as an internal error or a
memory blow-up, and a zip and its expanded folder get the same answer.

Python 3.7 syntax: these run on the codalab-legacy:py37 versions too.
"""

from __future__ import annotations

import os
import zipfile

import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import ScorerCase, load_scorer
except ImportError:
    from test_scorer_support import ScorerCase, load_scorer

S = load_scorer()
DEPTH = S.inputs.MAX_DEPTH


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


def _score(case, submission, capsys):
    reference = case.write_reference()
    status = S.main(["--submission", str(submission), "--reference", str(reference)])
    _, err = capsys.readouterr()
    return status, err


def _zip_with(case, method, name="submission.zip"):
    path = case.root / name
    with zipfile.ZipFile(path, "w") as archive:
        for rel, data in case.files().items():
            archive.writestr(rel, data, compress_type=method)
    return path


@pytest.mark.parametrize(
    "method,number", [(zipfile.ZIP_BZIP2, 12), (zipfile.ZIP_LZMA, 14)], ids=["bzip2", "lzma"]
)
def test_codecs_without_a_size_cap_are_refused_unread(case, capsys, method, number):
    status, err = _score(case, _zip_with(case, method), capsys)
    assert status == 1 and "Traceback" not in err
    assert f"is compressed with method {number}; only stored and deflate" in err


def test_stored_and_deflated_entries_are_read(case, capsys):
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        status, err = _score(case, _zip_with(case, method, f"m{method}.zip"), capsys)
        assert status == 0, err


def test_an_unknown_version_needed_to_extract_is_a_submission_error(case, capsys):
    path = _zip_with(case, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 6 : central + 8] = (64).to_bytes(2, "little")  # "version 6.4 needed"
    path.write_bytes(bytes(data))
    status, err = _score(case, path, capsys)
    assert status == 1 and "Traceback" not in err
    assert "is not a readable zip file (zip file version 6.4)" in err


def test_an_encrypted_entry_is_named(case, capsys):
    path = _zip_with(case, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        at = data.find(signature)
        data[at + offset] |= 0x1  # the "encrypted" flag an encrypting zip tool sets
    path.write_bytes(bytes(data))
    status, err = _score(case, path, capsys)
    assert status == 1 and "is encrypted; submit an unencrypted zip" in err


def _deep_name(levels):
    return "/".join(["d"] * levels) + "/notes.txt"


def test_a_folder_1200_levels_deep_is_refused_in_platform_mode(case, capsys):
    """What the platform's extraction makes of such a zip; os.walk recursed into it and hit
    Python's recursion limit (an internal error) before the walk became iterative."""
    run = case.root / "run"
    case.write_reference(name="run/input/ref")
    case.write_dir(case.files(), name="run/input/res")
    top = str(run / "input" / "res")
    folders = [top]
    for _ in range(1200):  # one mkdir at a time: pathlib and os.makedirs recurse too
        folders.append(os.path.join(folders[-1], "d"))
        os.mkdir(folders[-1])
    with open(os.path.join(folders[-1], "notes.txt"), "w") as handle:
        handle.write("deep\n")
    (run / "output").mkdir()
    try:
        status = S.main([str(run / "input"), str(run / "output")])
    finally:  # shutil.rmtree, which cleans tmp_path, recurses too
        os.remove(os.path.join(folders[-1], "notes.txt"))
        for folder in reversed(folders[1:]):
            os.rmdir(folder)
    _, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in err and "internal error" not in err
    assert f"more than {DEPTH} folders deep" in err
    assert not os.path.exists(run / "output" / "scores.txt")


def test_the_same_deep_folder_in_a_zip_gets_the_same_answer(case, capsys):
    files = case.files()
    files[_deep_name(300)] = b"deep\n"
    status, err = _score(case, case.write_zip(files), capsys)
    assert status == 1 and f"more than {DEPTH} folders deep" in err


def test_the_deepest_valid_layouts_are_not_affected(case, capsys):
    files = {f"outer/{rel}": data for rel, data in case.files().items()}
    files[_deep_name(DEPTH)] = b"deep but allowed\n"
    status, err = _score(case, case.write_zip(files), capsys)
    assert status == 0, err
