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


# --- messages (issue #11 item 12) -------------------------------------------------------------


def central_header(data, name):
    """Offset of the central directory header of member ``name``."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        size = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + size] == name.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 46)
    raise KeyError(name)


def test_a_read_error_names_the_file_once_in_plain_words(case, capsys):
    path = _zip_with(case, zipfile.ZIP_DEFLATED)
    rel = case.path("image_hi", "dev", "model_2")
    data = bytearray(path.read_bytes())
    data[central_header(data, rel) + 16] ^= 0xFF  # the CRC-32 the central directory records
    path.write_bytes(bytes(data))
    status, err = _score(case, path, capsys)
    assert status == 1 and err.count(rel) == 1, err
    assert "the file could not be read: its data are damaged (the CRC-32 checksum" in err


def test_an_encrypted_member_is_named_without_a_zipinfo_repr(case, capsys):
    files = case.files()
    files["notes.txt"] = b"secret"
    path = case.write_zip(files)
    data = bytearray(path.read_bytes())
    data[central_header(data, "notes.txt") + 8] |= 0x1  # zipfile's writestr clears the flag
    path.write_bytes(bytes(data))
    status, err = _score(case, path, capsys)
    assert status == 1 and "ZipInfo" not in err
    assert err.strip() == "submission error: 'notes.txt' is encrypted; submit an unencrypted zip"


@pytest.mark.parametrize(
    "encoding,name",
    [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")],
)
def test_wide_text_is_named_as_such(case, capsys, encoding, name):
    files = case.files()
    rel = case.path("image_lo", "final", "model_0")
    files[rel] = files[rel].decode("ascii").encode(encoding)
    status, err = _score(case, case.write_zip(files), capsys)
    assert status == 1
    assert err.strip() == (
        f"submission error: '{rel}': the file is {name} text; save it as UTF-8 or ASCII"
    )


@pytest.mark.parametrize("separator", [b"\x0b", b"\x0c", b"\t", b" ", b","])
def test_two_columns_are_refused_whatever_the_separator(case, capsys, separator):
    """Ten rows of two values give the 20 values a model needs, interleaved."""
    files = case.files()
    rel = case.path("image_inf", "dev", "model_1")
    values = files[rel].split()
    rows = [values[i] + separator + values[i + 1] for i in range(0, len(values), 2)]
    files[rel] = b"\n".join(rows) + b"\n"
    status, err = _score(case, case.write_zip(files), capsys)
    assert status == 1
    assert f"'{rel}': 20 values on 10 lines: write one value per line" in err


@pytest.mark.parametrize("separator", [b"\x0b", b"\x0c"])
def test_other_ascii_whitespace_separates_values_on_one_line(case, capsys, separator):
    files = case.files()
    rel = case.path("image_inf", "dev", "model_1")
    files[rel] = separator.join(files[rel].split()) + b"\n"
    reference = case.write_reference()
    result = S.score_submission(str(case.write_zip(files)), str(reference))
    canonical = S.score_submission(str(case.write_zip(case.files(), "c.zip")), str(reference))
    assert result.scores == canonical.scores


def _many_members(case, count, name="many.zip"):
    path = case.root / name
    with zipfile.ZipFile(str(path), "w") as archive:
        for i in range(count):
            archive.writestr(f"notes/{i}.txt", b"")
    return path


CAP = 12  # the case's reference folder holds 10 files, under the same cap


def _refuse_parsing(self):
    raise AssertionError("zipfile parsed the central directory")


@pytest.fixture
def no_directory_parsing(monkeypatch):
    """Fails the test if zipfile starts parsing a central directory; lowers the cap."""
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", _refuse_parsing)
    monkeypatch.setattr(S.inputs, "MAX_ENTRIES", CAP)


def test_too_many_entries_are_refused_from_the_end_record(case, capsys, no_directory_parsing):
    status, err = _score(case, _many_members(case, 30), capsys)
    assert status == 1
    assert err.strip() == f"submission error: the zip declares 30 entries, more than {CAP}"


def test_the_zip64_end_record_count_is_read_too(case, capsys, monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 3)  # zipfile then writes zip64 records
    path = _many_members(case, 30)
    monkeypatch.undo()
    data = bytearray(path.read_bytes())
    assert data.rfind(b"PK\x06\x06") > 0
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = b"\xff\xff\xff\xff"  # "see the zip64 record", as zip tools write
    path.write_bytes(bytes(data))
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", _refuse_parsing)
    monkeypatch.setattr(S.inputs, "MAX_ENTRIES", CAP)
    status, err = _score(case, path, capsys)
    assert status == 1
    assert err.strip() == f"submission error: the zip declares 30 entries, more than {CAP}"


def test_an_end_record_that_understates_the_count_is_caught_by_walking_the_headers(
    case, capsys, no_directory_parsing
):
    path = _many_members(case, 30)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = b"\x01\x00\x01\x00"  # "1 entry", on this disk and in total
    path.write_bytes(bytes(data))
    status, err = _score(case, path, capsys)
    assert status == 1
    assert err.strip() == f"submission error: the zip has more than {CAP} entries"


def test_the_entry_cap_leaves_ordinary_zips_alone(case, capsys):
    status, err = _score(case, _zip_with(case, zipfile.ZIP_DEFLATED), capsys)
    assert status == 0, err
