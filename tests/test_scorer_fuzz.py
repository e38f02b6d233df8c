"""Fuzzing the scorer with damaged and odd zips: never an internal error, never a traceback,
and zip mode always agrees with platform mode on the folder the platform's extraction leaves.

A fixed seed makes every run see the same thousands of cases: single-byte flips and
truncations of a valid submission zip, and random small zip trees (names with '..', '.',
'/', backslashes, long and deep paths, duplicates, folder entries, link entries, UTF-8 name
flags, every compression method zipfile writes, encrypted flags). Each case runs in-process
in zip mode (``main`` and ``validate_submission``, which ``micokit validate`` calls), is
extracted with ``ZipFile.extractall`` as the workers extract it, and where that succeeds runs
in platform mode. A small sample runs score.py as a subprocess, where a traceback would show.
Exit status 3 is the scorer's internal error (score.py ``main`` maps every exception that
is not a ScoringError to it). Python 3.7 syntax; numpy and pytest only.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import warnings
import zipfile

import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_extraction import extract_like_the_worker
    from .test_scorer_support import SCORING_DIR, ScorerCase, load_scorer, subprocess_env
except ImportError:
    from test_scorer_extraction import extract_like_the_worker
    from test_scorer_support import SCORING_DIR, ScorerCase, load_scorer, subprocess_env

S = load_scorer()
SEED = 20261201
FLIPS = 1600
TRUNCATIONS = 200
TREES = 600
SUBPROCESS_SAMPLE = 12
EXIT_INTERNAL = 3
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def small_case(root):
    """One scenario, two dev models and one final, 20 points: a valid zip of about 1 KB, so
    that a flip lands in a header often."""
    return ScorerCase(root, scenarios=("image_inf",), models={"dev": 2, "final": 1})


def valid_zip_bytes(case):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for rel, data in case.files().items():
            archive.writestr(rel, data)
    return buffer.getvalue()


def flips(data, rng, count):
    for _ in range(count):
        damaged = bytearray(data)
        at = rng.randrange(len(damaged))
        damaged[at] ^= rng.randrange(1, 256)
        yield bytes(damaged)


def truncations(data, rng, count):
    for _ in range(count):
        yield data[: rng.randrange(len(data))]


_PARTS = ["image", "image_inf", "dev", "final", "model_0", "model_1", "x", "..", "."]
_LEAVES = ["prediction.csv", "predictions.csv", "notes.txt", "..", "metadata", ".DS_Store"]


def random_name(rng, case):
    roll = rng.random()
    if roll < 0.3:  # a real prediction path, perhaps dressed up
        rel = rng.choice(list(case.files()))
        return rng.choice(["", "/", "../", "./", "wrap/", "a\\", "//"]) + rel
    if roll < 0.4:  # deep
        return "/".join(["d"] * rng.randrange(10, 24)) + "/f"
    if roll < 0.5:  # long
        return "n" * rng.randrange(200, 320) + rng.choice(["", "/", "/f"])
    if roll < 0.55:
        return rng.choice(["", "/", "..", "../", "\\", "C:\\x", "r\u00e9sum\u00e9.txt", "\u00e9/"])
    parts = [rng.choice(_PARTS) for _ in range(rng.randrange(0, 5))]
    return "/".join(parts + [rng.choice(_LEAVES)]) + rng.choice(["", "", "", "/"])


def random_data(rng, case):
    values = list(case.files().values())
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(values)
    if roll < 0.6:
        return rng.choice(values).decode().encode(rng.choice(["utf-16", "utf-32", "utf-16-le"]))
    if roll < 0.7:
        return rng.choice(values).replace(b"\n", rng.choice([b"\x0b", b"\x0c", b",", b"\r"]))
    if roll < 0.8:
        return b""
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))


def random_tree(rng, case):
    """A small zip: a valid submission half the time, then odd members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        if rng.random() < 0.5:
            for rel, data in case.files().items():
                archive.writestr(rel, data, zipfile.ZIP_DEFLATED)
        for _ in range(rng.randrange(1, 6)):
            info = zipfile.ZipInfo(random_name(rng, case))
            info.compress_type = rng.choice(METHODS)
            if rng.random() < 0.1:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            data = b"" if info.filename.endswith("/") else random_data(rng, case)
            archive.writestr(info, data)
    data = buffer.getvalue()
    if rng.random() < 0.05:  # writestr clears the flags: mark the last member encrypted
        data = mark_encrypted(data)
    return data


def mark_encrypted(data):
    """The "encrypted" flag set on the last member, in its local and central headers."""
    damaged = bytearray(data)
    central = damaged.rfind(b"PK\x01\x02")
    if central >= 0:
        damaged[central + 8] |= 0x1
        local = int.from_bytes(damaged[central + 42 : central + 46], "little")
        if damaged[local : local + 4] == b"PK\x03\x04":
            damaged[local + 6] |= 0x1
    return bytes(damaged)


def all_cases(case):
    rng = random.Random(SEED)
    data = valid_zip_bytes(case)
    cases = [("valid", data)]
    cases += [("flip", d) for d in flips(data, rng, FLIPS)]
    cases += [("truncation", d) for d in truncations(data, rng, TRUNCATIONS)]
    cases += [("tree", random_tree(rng, case)) for _ in range(TREES)]
    return cases


def quiet_main(argv):
    """score.py's main in-process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = S.main(argv)
    return status, err.getvalue()


def zip_mode(path, reference, validate=True):
    """Zip-mode exit status and stderr, and what ``validate_submission`` (micokit's check)
    said: None if it passed (checked when asked, or when scoring passed)."""
    status, err = quiet_main(["--submission", path, "--reference", reference, "--no-plots"])
    if not validate and status != 0:
        return status, err, "not checked"
    try:
        S.validate_submission(path, reference)
        validated = None
    except S.ScoringError as exc:  # anything else propagates and fails the test
        validated = exc.render()
    return status, err, validated


def platform_mode(path, run_dir):
    res = os.path.join(run_dir, "input", "res")
    output = os.path.join(run_dir, "output")
    for folder in (res, output):
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
    if extract_like_the_worker(path, res) is not None:
        return None, ""
    return quiet_main([os.path.join(run_dir, "input"), output, "--no-plots"])


def describe(kind, index, err):
    return f"case {index} ({kind}): {err.strip()[:300]}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    case = small_case(root)
    reference = str(case.write_reference())
    # The extracted trees are made and removed thousands of times: in memory where there is
    # /dev/shm (rmdir on this project's disk took 3 ms a folder, most of the run time).
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    run_dir = tempfile.mkdtemp(prefix="scorer-fuzz-", dir=shm or str(root))
    case.write_reference(name=os.path.relpath(os.path.join(run_dir, "input", "ref"), str(root)))
    yield case, reference, run_dir, all_cases(case)
    shutil.rmtree(run_dir, ignore_errors=True)


def test_the_unchanged_zip_scores(world):
    case, reference, run_dir, cases = world
    path = os.path.join(str(case.root), "valid.zip")
    with open(path, "wb") as handle:
        handle.write(cases[0][1])
    assert zip_mode(path, reference)[0] == 0
    assert platform_mode(path, run_dir)[0] == 0


def test_thousands_of_damaged_and_odd_zips_never_cause_an_internal_error(world):
    case, reference, run_dir, cases = world
    path = os.path.join(str(case.root), "case.zip")
    internal, disagreements, outcomes = [], [], {0: 0, 1: 0}
    for index, (kind, data) in enumerate(cases):
        with open(path, "wb") as handle:
            handle.write(data)
        status, err, validated = zip_mode(path, reference, validate=kind == "tree")
        platform, platform_err = platform_mode(path, run_dir)
        for mode_status, mode_err in ((status, err), (platform, platform_err)):
            if mode_status == EXIT_INTERNAL or "Traceback" in mode_err:
                internal.append(describe(kind, index, mode_err))
        outcomes[status] = outcomes.get(status, 0) + 1
        if (status == 0) != (validated is None) or (status == 0) != (platform == 0):
            disagreements.append(
                describe(kind, index, f"zip mode {status}, platform {platform}: {err}")
            )
    assert not internal, f"{len(internal)} internal errors, e.g. {internal[:3]}"
    assert not disagreements, f"{len(disagreements)} disagreements, e.g. {disagreements[:3]}"
    # The fuzz is worth something only if it reaches both answers often.
    assert outcomes[0] > 100 and outcomes[1] > 1000, outcomes


def test_no_traceback_reaches_stderr_of_the_scoring_process(world, tmp_path):
    case, reference, _, cases = world
    rng = random.Random(SEED + 1)
    for index in rng.sample(range(len(cases)), SUBPROCESS_SAMPLE):
        path = tmp_path / f"case{index}.zip"
        path.write_bytes(cases[index][1])
        done = subprocess.run(
            [
                sys.executable,
                str(SCORING_DIR / "score.py"),
                "--submission",
                str(path),
                "--reference",
                reference,
                "--no-plots",
            ],
            capture_output=True,
            env=subprocess_env(),
            cwd=str(tmp_path),
            timeout=60,
        )
        err = done.stderr.decode("utf-8", "replace")
        assert done.returncode in (0, 1), describe(cases[index][0], index, err)
        assert "Traceback" not in err
        assert done.returncode == 0 or err.startswith("submission error: "), err
