"""A zip passes the scorer's zip mode (what ``micokit validate`` runs) exactly when the
platform's worker extracts it and the platform-mode scorer accepts the extracted folder.

Both workers extract a submission with ``ZipFile.extractall`` (competitions-v1-compute-worker
worker.py ``get_bundle``; codabench compute_worker/compute_worker.py ``Run._get_bundle``).
Each case extracts the same zip with that call into INPUT/res and runs score.py in platform
mode, as the worker does, then compares with zip mode. (Python 3.7 syntax: these run on the
py37 image too.)
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
import zipfile

import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import ScorerCase, load_scorer
except ImportError:
    from test_scorer_support import ScorerCase, load_scorer

S = load_scorer()
FAILS = "would fail to extract on the platform"


class Outcome:
    """What each side made of one zip: exit statuses and messages."""

    def __init__(self, extracted, platform, platform_err, local, local_err, validated):
        self.extracted = extracted  # None, or why extractall raised
        self.platform = platform  # platform-mode exit status (None: nothing was extracted)
        self.platform_err = platform_err
        self.local = local  # zip-mode exit status
        self.local_err = local_err
        self.validated = validated  # validate_submission: None if it passed, else the message

    def platform_accepts(self):
        return self.extracted is None and self.platform == 0

    def agree(self):
        return self.platform_accepts() == (self.local == 0) == (self.validated is None)


def extract_like_the_worker(archive, target):
    """The workers' ``ZipFile(...).extractall(target)``; None, or why it failed.

    Run here with this Python's zipfile, Codabench's case (Python 3.13; its check for
    overlapping members, new in 3.12, is added on older Pythons). CodaLab's
    worker runs Python 2.7 in a container without a locale, which fails on two more things,
    checked first (both were checked against a real Python 2.7.18 with LC_ALL=C): 2.7's
    ``ZipFile.open`` reads only stored and deflate members (NotImplementedError otherwise),
    and a member name flagged UTF-8 becomes unicode, which an ASCII file system encoding
    cannot write (UnicodeEncodeError).
    """
    try:
        with zipfile.ZipFile(str(archive)) as opened:
            for info in opened.infolist():
                if info.filename.endswith("/"):
                    continue
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    return f"Python 2.7: compression type {info.compress_type}"
            for info in opened.infolist():
                if info.flag_bits & 0x800 and any(ord(c) > 127 for c in info.filename):
                    return "Python 2.7: UnicodeEncodeError"
            if sys.version_info < (3, 12) and overlapping(opened, str(archive)):
                return "Python 3.13: Overlapped entries"
            opened.extractall(str(target))
            # CodaLab's get_bundle, after extractall: a 'metadata' file at the top or one folder
            # down moves that folder up over the rest, or is read for URLs to fetch.
            for info in opened.infolist():
                parts = [p for p in info.filename.split("/") if p not in ("", ".", "..")]
                if (
                    not info.filename.endswith("/")
                    and parts[-1:] == ["metadata"]
                    and len(parts) <= 2
                ):
                    return "CodaLab: a metadata file moves folders or fetches URLs"
    except Exception as exc:  # noqa: BLE001 - the worker fails the submission on any of them
        return f"{type(exc).__name__}: {exc}"
    return None


def overlapping(opened, path):
    """Whether a member's data reach into the next local header or the central directory,
    which Python 3.12+ (Codabench's worker) refuses on extraction and older Pythons ignore."""
    infos = sorted(opened.infolist(), key=lambda i: i.header_offset)
    bounds = [i.header_offset for i in infos[1:]] + [opened.start_dir]
    with open(path, "rb") as raw:
        for index, info in enumerate(infos):
            bound = bounds[index]
            raw.seek(info.header_offset)
            header = raw.read(30)
            lengths = int.from_bytes(header[26:28], "little") + int.from_bytes(
                header[28:30], "little"
            )
            if info.header_offset + 30 + lengths + info.compress_size > bound:
                return True
    return False


def both_modes(case, archive, run_dir, capsys, reference=None):
    """Run zip mode, validation, and (where extraction succeeds) platform mode on ``archive``."""
    if run_dir.exists():
        shutil.rmtree(str(run_dir))
    ref_dir = case.write_reference(name=os.path.relpath(str(run_dir / "input" / "ref"), case.root))
    reference = reference or ref_dir
    capsys.readouterr()
    local = S.main(["--submission", str(archive), "--reference", str(reference), "--no-plots"])
    _, local_err = capsys.readouterr()
    try:
        S.validate_submission(str(archive), str(reference))
        validated = None
    except S.ScoringError as exc:
        validated = exc.render()
    res = run_dir / "input" / "res"
    res.mkdir()
    extracted = extract_like_the_worker(archive, res)
    platform, platform_err = None, ""
    if extracted is None:
        (run_dir / "output").mkdir()
        platform = S.main([str(run_dir / "input"), str(run_dir / "output"), "--no-plots"])
        _, platform_err = capsys.readouterr()
    return Outcome(extracted, platform, platform_err, local, local_err, validated)


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


def write_members(path, members):
    """A zip of (name, data) members in this order; duplicates kept, as some tools write."""
    with zipfile.ZipFile(str(path), "w", zipfile.ZIP_DEFLATED) as archive:
        with warnings.catch_warnings():  # zipfile warns "Duplicate name": that is the point
            warnings.simplefilter("ignore")
            for name, data in members:
                archive.writestr(zipfile.ZipInfo(name), data)
    return path


def test_a_name_over_255_bytes_fails_on_the_platform_and_in_zip_mode(case, capsys):
    name = "notes/" + "n" * 300 + ".txt"
    path = write_members(case.root / "long.zip", list(case.files().items()) + [(name, b"x")])
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.extracted is not None and "File name too long" in outcome.extracted
    assert outcome.local == 1 and outcome.validated is not None and outcome.agree()
    assert f"{FAILS}: '{name[:80]}" in outcome.local_err
    assert "has a name of 304 bytes; Linux allows at most 255" in outcome.local_err
    assert len(outcome.local_err.strip().splitlines()) == 1


@pytest.mark.parametrize("folder_first", [False, True], ids=["file-first", "folder-first"])
def test_a_file_and_a_folder_of_one_name_fail_on_the_platform_and_in_zip_mode(
    case, capsys, folder_first
):
    members = [("image/notes", b"a file\n"), ("image/notes/more.txt", b"inside\n")]
    if folder_first:
        members.reverse()
    path = write_members(case.root / "clash.zip", list(case.files().items()) + members)
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.extracted is not None  # NotADirectoryError or IsADirectoryError
    assert outcome.local == 1 and outcome.agree()
    second = members[1][0]
    assert outcome.local_err.startswith(f"submission error: {FAILS}: '{second}'")


def test_a_folder_member_where_a_file_is_fails_alike(case, capsys):
    members = list(case.files().items()) + [("image/notes", b"x"), ("image/notes/", b"")]
    outcome = both_modes(
        case, write_members(case.root / "d.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted is not None and outcome.local == 1 and outcome.agree()
    assert "'image/notes/' has the same name as a file in the zip" in outcome.local_err


def test_absolute_paths_are_extracted_inside_and_scored_alike(case, capsys):
    members = [("/" + rel, data) for rel, data in case.files().items()]
    outcome = both_modes(
        case, write_members(case.root / "abs.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted is None
    assert outcome.platform == 0 and outcome.local == 0 and outcome.agree()
    assert outcome.local_err == "" and outcome.platform_err == ""  # not even a warning


@pytest.mark.parametrize("good_last", [True, False], ids=["good-last", "bad-last"])
def test_of_two_members_of_one_name_the_last_wins_as_on_the_platform(case, capsys, good_last):
    files = case.files()
    rel = case.path("image_hi", "dev", "model_1")
    copies = [(rel, b"not a number\n"), (rel, files.pop(rel))]
    if not good_last:
        copies.reverse()
    members = list(files.items()) + copies
    outcome = both_modes(
        case, write_members(case.root / "dup.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted is None and outcome.agree()
    if good_last:
        assert outcome.local == 0 and outcome.platform == 0
    else:
        assert outcome.local == 1 and outcome.platform == 1
        assert "'not' is not a number" in outcome.local_err
        assert "'not' is not a number" in outcome.platform_err


def test_duplicates_under_two_spellings_keep_the_later_one(case, capsys):
    """'a/b' and '/a/b' are one file once extracted: the later member is what stays."""
    files = case.files()
    rel = case.path("image_lo", "final", "model_0")
    members = list(files.items()) + [("./" + rel, b"0.5\n" * 3)]
    outcome = both_modes(
        case, write_members(case.root / "two.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted is None and outcome.local == 1 and outcome.platform == 1
    assert "expected 20 values (one per challenge point), found 3" in outcome.local_err
    assert outcome.agree()


def test_an_empty_name_fails_on_the_platform_and_in_zip_mode(case, capsys):
    members = list(case.files().items()) + [("..", b"x")]
    outcome = both_modes(
        case, write_members(case.root / "e.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted is not None and outcome.local == 1 and outcome.agree()
    assert f"{FAILS}: '..' has no file name once '/', '.' and '..' go" in outcome.local_err


def test_a_damaged_extra_member_fails_on_the_platform_and_in_zip_mode(case, capsys):
    """Scoring never reads notes.txt, but extraction does, and its CRC-32 is wrong."""
    path = write_members(
        case.root / "crc.zip", list(case.files().items()) + [("notes.txt", b"hello " * 50)]
    )
    info = zipfile.ZipFile(str(path)).getinfo("notes.txt")
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # the last central entry is notes.txt
    assert data[central + 46 : central + 46 + 9] == b"notes.txt"
    data[central + 16 : central + 20] = ((info.CRC ^ 1) & 0xFFFFFFFF).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.extracted is not None and "CRC" in outcome.extracted
    assert outcome.local == 1 and outcome.agree()
    assert f"{FAILS}: 'notes.txt' cannot be read: its data are damaged" in outcome.local_err


def test_a_non_ascii_name_flagged_utf8_fails_on_codalabs_worker(case, capsys):
    members = list(case.files().items()) + [("r\u00e9sum\u00e9.txt", b"x")]
    outcome = both_modes(
        case, write_members(case.root / "u.zip", members), case.root / "run", capsys
    )
    assert outcome.extracted == "Python 2.7: UnicodeEncodeError"
    assert outcome.local == 1 and outcome.agree()
    assert f"{FAILS}: 'r\u00e9sum\u00e9.txt' is not an ASCII name" in outcome.local_err


def test_a_bzip2_member_fails_on_codalabs_worker_and_is_refused(case, capsys):
    path = case.root / "bz.zip"
    with zipfile.ZipFile(str(path), "w") as archive:
        for rel, data in case.files().items():
            archive.writestr(rel, data, zipfile.ZIP_DEFLATED)
        archive.writestr("notes.txt", b"x", zipfile.ZIP_BZIP2)
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.extracted == "Python 2.7: compression type 12"
    assert outcome.local == 1 and outcome.agree()


def test_a_member_overlapping_the_next_fails_on_codabenchs_worker_and_is_refused(case, capsys):
    """Python 3.12+ refuses a member whose data run into the next member (zip-bomb check)."""
    path = case.root / "overlap.zip"
    with zipfile.ZipFile(str(path), "w") as archive:
        archive.writestr("notes.txt", b"hello\n", zipfile.ZIP_STORED)
        for rel, data in case.files().items():
            archive.writestr(rel, data, zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")  # notes.txt, the first member
    assert data[central + 46 : central + 55] == b"notes.txt"
    data[central + 20 : central + 24] = (64).to_bytes(4, "little")  # compressed size 6 -> 64
    path.write_bytes(bytes(data))
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.extracted == "Python 3.13: Overlapped entries"
    assert outcome.local == 1 and outcome.agree()
    assert f"{FAILS}: 'notes.txt' overlaps the next member" in outcome.local_err


@pytest.mark.parametrize("name", ["metadata", "extra/metadata", "image/metadata"])
def test_a_metadata_file_where_codalabs_worker_looks_is_refused(case, capsys, name):
    # worker.py get_bundle: a top-level folder holding 'metadata' replaces the submission, a
    # top-level 'metadata' is read as YAML and its values fetched as URLs.
    members = list(case.files().items()) + [(name, b"res: http://example.invalid/x.zip\n")]
    path = write_members(case.root / "meta.zip", members)
    outcome = both_modes(case, path, case.root / "run", capsys)
    assert outcome.local == 1 and outcome.validated is not None and outcome.agree()
    (line,) = outcome.local_err.strip().splitlines()
    assert f"'{name}': a file named 'metadata' changes how CodaLab unpacks a submission" in line


def test_a_metadata_file_deeper_down_is_just_an_extra_file(case, capsys):
    members = list(case.files().items()) + [("notes/old/metadata", b"description: x\n")]
    outcome = both_modes(
        case, write_members(case.root / "deep.zip", members), case.root / "run", capsys
    )
    assert outcome.local == 0 and outcome.platform == 0 and outcome.agree()
