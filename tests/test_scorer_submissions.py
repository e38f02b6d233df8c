"""Specification of what the scorer accepts, what it rejects, and what it says.

Every accepted variant must give exactly the scores of the canonical submission; every
rejection must be a SubmissionError (exit 1) or, for broken reference data, a
ReferenceDataError (exit 2), with a message naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import re
import stat
import zipfile

import numpy as np
import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import ScorerCase, format_scores, load_scorer
except ImportError:
    from test_scorer_support import ScorerCase, format_scores, load_scorer

S = load_scorer()


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


@pytest.fixture
def ref(case):
    return str(case.write_reference())


def canonical_scores(case, ref):
    return S.score_submission(str(case.write_zip(case.files(), "canonical.zip")), ref).scores


def rejection_of_path(ref, path):
    """The message of the SubmissionError that scoring ``path`` raises."""
    with pytest.raises(S.SubmissionError) as info:
        S.score_submission(str(path), ref)
    return info.value.render()


def rejection(case, ref, files, as_zip=True):
    """The message for ``files``, written as a zip or as an expanded folder."""
    return rejection_of_path(ref, case.write_zip(files) if as_zip else case.write_dir(files))


def retype(files, transform):
    return {rel: transform(data) for rel, data in files.items()}


# --- accepted variants: all score exactly like the canonical submission ------------------------


def _wrapped(files):
    return {"my_submission/" + rel: data for rel, data in files.items()}


def _no_task(files):
    return {rel.split("/", 1)[1]: data for rel, data in files.items()}


def _macos(files):
    out = _wrapped(files)
    out["__MACOSX/my_submission/._image"] = b"\x00\x05\x16\x07"
    out["my_submission/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    out["my_submission/image/image_inf/dev/model_0/._prediction.csv"] = b"\x00\x05"
    return out


def _plural(files):
    return {rel.replace("prediction.csv", "predictions.csv"): data for rel, data in files.items()}


def _both_names(files):
    out = dict(files)
    out.update(_plural(retype(files, lambda d: d.replace(b"\n", b"\r\n"))))
    return out


def _one_line(data):
    return b",".join(data.split())


def _scientific(data):
    return "\n".join(f"{float(v):.17e}" for v in data.split()).encode()


ACCEPTED = {
    "tree at the zip root": lambda f: f,
    "inside one extra folder": _wrapped,
    "without the task folder": _no_task,
    "extra folder and no task folder": lambda f: _wrapped(_no_task(f)),
    "macOS litter": _macos,
    "predictions.csv instead of prediction.csv": _plural,
    "both names with equal values": _both_names,
    "comma-separated on one line": lambda f: retype(f, _one_line),
    "comma-separated with a trailing comma and newline": lambda f: retype(
        f, lambda d: _one_line(d) + b",\n"
    ),
    "CRLF line endings": lambda f: retype(f, lambda d: d.replace(b"\n", b"\r\n")),
    "scientific notation": lambda f: retype(f, _scientific),
    "no trailing newline": lambda f: retype(f, lambda d: d.rstrip(b"\n")),
    "UTF-8 byte-order mark": lambda f: retype(f, lambda d: b"\xef\xbb\xbf" + d),
    "blank lines and spaces": lambda f: retype(f, lambda d: b"\n " + d.replace(b"\n", b" \n\n")),
}


@pytest.mark.parametrize("variant", list(ACCEPTED))
def test_accepted_variants_score_like_the_canonical_submission(case, ref, variant):
    files = ACCEPTED[variant](case.files())
    result = S.score_submission(str(case.write_zip(files)), ref)
    assert result.scores == canonical_scores(case, ref)
    assert result.warnings == []


def test_expanded_folder_with_platform_metadata_file_is_accepted(case, ref):
    files = case.files()
    files["metadata"] = b"description: added by the platform\n"
    result = S.score_submission(str(case.write_dir(files)), ref)
    assert result.scores == canonical_scores(case, ref)
    assert result.warnings == []


def test_scores_pool_all_models_of_a_scenario_in_manifest_order(case, ref):
    scores = canonical_scores(case, ref)
    for k, sid in enumerate(case.scenarios, 1):
        labels, values = case.labels_and_scores(sid)
        expected = S.compute_metrics(labels, values, delta=1e-5)
        for name, value in expected.items():
            assert scores[f"scenario{k}_{name}"] == value
    mean = np.mean([scores[f"scenario{k}_TPR_FPR_1000"] for k in (1, 2, 3)])
    assert scores["average_TPR_FPR_1000"] == pytest.approx(mean, abs=1e-15)
    assert list(scores) == S.score_keys(3)


def test_extra_files_are_ignored_with_a_warning(case, ref):
    files = case.files()
    files["README.txt"] = b"my attack"
    files["image/image_inf/train/model_0/prediction.csv"] = b"0.5\n"
    result = S.score_submission(str(case.write_zip(files)), ref)
    assert result.scores == canonical_scores(case, ref)
    (warning,) = result.warnings
    assert "ignored 2 files" in warning and "README.txt" in warning


def test_validation_needs_only_the_manifest(case, tmp_path):
    manifest = tmp_path / "public" / "manifest.json"
    manifest.parent.mkdir()
    public = case.manifest()
    del public["format"], public["phase"]
    manifest.write_text(json.dumps(public))
    good = case.write_zip(case.files())
    assert S.validate_submission(str(good), str(manifest)) == []
    assert S.validate_submission(str(good), str(manifest.parent)) == []
    files = case.files()
    del files[case.path("image_lo", "final", "model_1")]
    with pytest.raises(S.SubmissionError) as info:
        S.validate_submission(str(case.write_zip(files, "bad.zip")), str(manifest))
    assert (
        str(info.value)
        == info.value.render()
        == (
            "submission error: missing image/image_lo/final/model_1/prediction.csv "
            "(model model_1 of scenario 'image_lo', phase 'final')"
        )
    )


def test_final_phase_reference_scores_final_and_still_checks_dev(case):
    ref = str(case.write_reference("ref_final", phase="final"))
    result = S.score_submission(str(case.write_zip(case.files())), ref)
    labels, values = case.labels_and_scores("image_hi", "final")
    assert result.scores["scenario2_AUC"] == S.compute_metrics(labels, values)["AUC"]
    files = case.files()
    files[case.path("image_hi", "dev", "model_2")] = b"0.5\n"
    assert "image_hi/dev/model_2" in rejection(case, ref, files)


def test_reference_as_zip_and_wrapped_in_a_folder(case, ref, tmp_path):
    archive = tmp_path / "reference_data_dev.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for here, _, names in os.walk(ref):
            for name in names:
                full = os.path.join(here, name)
                out.write(full, os.path.join("reference_data", os.path.relpath(full, ref)))
    submission = str(case.write_zip(case.files()))
    assert S.score_submission(submission, str(archive)).scores == canonical_scores(case, ref)


# --- rejected submissions ------------------------------------------------------------------


def test_missing_scenario_is_one_clear_problem(case, ref):
    files = {r: d for r, d in case.files().items() if "/image_hi/dev/" not in r}
    message = rejection(case, ref, files)
    assert message == (
        "submission error: no predictions for scenario 'image_hi', phase 'dev': expected 3 "
        "files image/image_hi/dev/model_<i>/prediction.csv"
    )


def test_missing_model_names_the_expected_file(case, ref):
    files = case.files()
    del files[case.path("image_inf", "dev", "model_1")]
    assert "missing image/image_inf/dev/model_1/prediction.csv" in rejection(case, ref, files)


def test_missing_final_predictions_fail_already_in_the_dev_phase(case, ref):
    files = {r: d for r, d in case.files().items() if "/final/" not in r}
    message = rejection(case, ref, files)
    assert message.startswith("submission error: 3 problems found")
    assert "no predictions for scenario 'image_lo', phase 'final'" in message


def test_invalid_final_predictions_fail_already_in_the_dev_phase(case, ref):
    files = case.files()
    files[case.path("image_lo", "final", "model_0")] = b"0.5\n" * 19
    message = rejection(case, ref, files)
    assert "image/image_lo/final/model_0/prediction.csv" in message
    assert "expected 20 values (one per challenge point), found 19" in message


def _bad_file(case, ref, data):
    files = case.files()
    files[case.path("image_hi", "dev", "model_2")] = data
    message = rejection(case, ref, files)
    assert message.startswith("submission error: 'image/image_hi/dev/model_2/prediction.csv': ")
    return message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"0.5\n" * 19, "expected 20 values (one per challenge point), found 19"),
        (b"0.5\n" * 21, "expected 20 values (one per challenge point), found 21"),
        (b"", "the file is empty (no values)"),
        (b" \r\n\n", "the file is empty (no values)"),
        (b"score\n" + b"0.5\n" * 20, "line 1 (value #1): 'score' is not a number"),
        (b"0.5\n" * 4 + b"0.5x\n" + b"0.5\n" * 15, "line 5 (value #5): '0.5x' is not a number"),
        (b"0.5,0.5;0.5\n", "line 1 (value #2): '0.5;0.5' is not a number"),
        (b"0.5\n" * 3 + b"nan\n" + b"0.5\n" * 16, "line 4 (value #4) is NaN"),
        (b"0.5\n" * 3 + b"inf\n" + b"0.5\n" * 16, "line 4 (value #4) is infinite"),
        (b"-Infinity\n" + b"0.5\n" * 19, "line 1 (value #1) is infinite"),
        (b"1e400\n" + b"0.5\n" * 19, "value #1 is infinite; scores must be finite"),
        (b"0.5\n" * 19 + b"1.5\n", "1 values are outside [0, 1]; the first is value #20 = 1.5"),
        (b"-0.1\n" * 20, "20 values are outside [0, 1]; the first is value #1 = -0.1"),
        # Two columns would be read as interleaved values of one model: refused, not guessed.
        (b"0.5,0.5\n" * 10, "20 values on 10 lines: write one value per line"),
        (b"0.5 0.5\n" * 10, "20 values on 10 lines"),
    ],
)
def test_bad_prediction_files_are_rejected_with_what_was_expected(case, ref, data, expected):
    assert expected in _bad_file(case, ref, data)


# --- numbers: one answer on every numpy the scorer supports (>= 1.17) --------------------------
#
# numpy 1.17 (CodaLab's codalab-legacy:py37 image) reads a malformed *last* value up to where it
# stops making sense: '0.75.3' -> 0.75, '0.3-0.2' -> 0.3, '0.5e' -> 0.5, with no warning. Newer
# numpy refuses them. The scorer must refuse them everywhere, with the same message.

MALFORMED = [b"0.75.3", b"0.3-0.2", b"0.5e", b"0.5e+", b"1e5e", b"1e5.5", b"0.5-", b"0.5ee3"]


MALFORMED_LABELS = [b"1.0.3", b"0-1", b"1e", b"1e+", b"0e0e", b"1e0.5", b"1-", b"1ee0"]

LAYOUTS = {
    "one per line": (lambda values: b"\n".join(values) + b"\n", 20),
    "no trailing newline": (lambda values: b"\n".join(values), 20),
    "CRLF": (lambda values: b"\r\n".join(values) + b"\r\n", 20),
    "one line": (lambda values: b",".join(values), 1),
}


@pytest.mark.parametrize("token", MALFORMED, ids=lambda t: t.decode())
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_malformed_last_value_is_rejected_with_its_line(case, ref, token, layout):
    join, line = LAYOUTS[layout]
    files = case.files()
    rel = case.path("image_hi", "dev", "model_2")
    files[rel] = join(files[rel].split()[:-1] + [token])
    assert rejection(case, ref, files) == (
        f"submission error: 'image/image_hi/dev/model_2/prediction.csv': line {line} "
        f"(value #20): {token.decode()!r} is not a number"
    )


@pytest.mark.parametrize("token", MALFORMED_LABELS, ids=lambda t: t.decode())
def test_a_malformed_last_label_is_a_reference_data_error(case, token):
    """numpy 1.17 alone would read '1.0.3' as the label 1 and score the submission."""

    def mutate(path):
        solution = path / "image/image_inf/dev/model_1/solution.csv"
        solution.write_bytes(b"1\n0\n" * 9 + b"1\n" + token + b"\n")

    assert _broken_reference(case, mutate) == (
        "reference data error (organizer): image/image_inf/dev/model_1/solution.csv: "
        "line 20 (value #20) is not a number"
    )


def _short_tokens(alphabet=b"1.e+-", longest=5):
    tokens = [b""]
    for length in range(longest):
        tokens += [t + bytes([c]) for t in tokens if len(t) == length for c in alphabet]
    return tokens[1:]


def _python_float(token):
    try:
        return float(token)
    except ValueError:
        return None


def test_every_short_token_is_accepted_exactly_when_python_reads_it_as_a_float():
    """All 3,905 tokens of up to 5 characters over '1.e+-', last in a file or alone: Python's
    float() is the specification (over these characters it is exactly the scorer's syntax)."""
    parse = S.inputs.parse_values
    for token in _short_tokens():
        expected = _python_float(token)
        for data in (b"0.5\n" + token + b"\n", b"0.5 " + token, token):
            if expected is None:
                with pytest.raises(ValueError, match="is not a number"):
                    parse(data)
            else:
                values = parse(data)
                assert values[-1] == expected and values.dtype == np.float64, token


def test_valid_numbers_read_exactly_as_python_reads_them():
    texts = [
        "0",
        "-0",
        "+0.0",
        "1",
        "1.",
        ".5",
        "+.5e-1",
        "5E+0",
        "0.1",
        "0.30000000000000004",
        "0.1000000000000000055511151231257827",
        "0.99999999999999994",
        "0.99999999999999995",
        "1e-320",
        "4.9e-324",
        "2e-324",
        "2.2250738585072011e-308",
        "1e400",
        "-1e400",
        "9007199254740993",
        "0." + "0" * 300 + "1",
        "1" + "0" * 300,
        "0.5" + "0" * 200,
        "123456789012345678901234567890e-30",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
    ]
    values = S.inputs.parse_values(("\n".join(texts) + "\n").encode())
    expected = np.array([float(t) for t in texts])
    assert values.tobytes() == expected.tobytes()  # bit for bit, -0.0 included
    every_token_once = b" ".join(t for t in _short_tokens() if _python_float(t) is not None)
    values = S.inputs.parse_values(every_token_once)
    expected = np.array([float(t) for t in every_token_once.split()])
    assert values.tobytes() == expected.tobytes()


def test_values_cut_by_a_chunk_border_are_read_and_checked_whole(monkeypatch):
    """The fast path checks the file in chunks; a token cut by a chunk border still counts."""
    values = np.random.default_rng(7).uniform(size=400)
    text = format_scores(values)
    for chunk in (7, 64, 1000):
        monkeypatch.setattr(S.inputs, "_CHUNK", chunk)
        assert S.inputs.parse_values(text).tobytes() == values.tobytes()
        border = 3 * chunk
        for bad in (b"0.5.1", b"1e", b"0.3-0.2", b"1e+", b"1.e-5.", b"0.5"):
            for cut in range(1, len(bad)):  # bad[:cut] in the third chunk, the rest in the fourth
                start = text.rfind(b"\n", 0, border - cut) + 1
                end = text.index(b"\n", start)
                planted = text[:start] + b" " * (border - cut - start) + bad + text[end:]
                assert planted[border - cut : border - cut + len(bad)] == bad
                line = text[:start].count(b"\n") + 1
                if bad == b"0.5":
                    expected = values.copy()
                    expected[line - 1] = 0.5
                    assert S.inputs.parse_values(planted).tobytes() == expected.tobytes()
                    continue
                pattern = f"line {line} \\(value #{line}\\): '{re.escape(bad.decode())}' is not"
                with pytest.raises(ValueError, match=pattern):
                    S.inputs.parse_values(planted)
        long = b"0." + b"1" * (5 * chunk)  # longer than a chunk, with no separator at all
        assert S.inputs.parse_values(long).tolist() == [float(long)]
        with pytest.raises(ValueError, match="line 1 \\(value #1\\): '0.111"):
            S.inputs.parse_values(long + b".5")


def test_both_names_that_disagree_are_rejected(case, ref):
    files = case.files()
    rel = case.path("image_inf", "dev", "model_0")
    files[rel.replace("prediction.csv", "predictions.csv")] = b"0.5\n" * 20
    message = rejection(case, ref, files)
    assert "prediction.csv' and" in message and "disagree; keep only one of them" in message


def test_duplicate_models_after_flattening_are_rejected(case, ref):
    files = case.files()
    files["image_inf/dev/model_0/prediction.csv"] = files[case.path("image_inf", "dev", "model_0")]
    message = rejection(case, ref, files)
    assert "are the same model (image_inf/dev/model_0/prediction.csv)" in message


def test_predictions_at_an_unexpected_depth_get_a_layout_hint(case, ref):
    files = {"a/b/" + rel: data for rel, data in case.files().items()}
    lines = rejection(case, ref, files).splitlines()
    assert lines[0] == "submission error: 7 problems found"
    assert lines[1].startswith("  - 15 prediction files are at unexpected places, e.g. 'a/b/")


def test_a_zip_inside_the_zip_gets_a_hint(case, ref):
    inner = case.write_zip(case.files(), "inner.zip").read_bytes()
    lines = rejection(case, ref, {"submission.zip": inner}).splitlines()
    assert lines[1] == (
        "  - the submission contains 'submission.zip': zip the prediction folders themselves, "
        "not a zip file"
    )


def test_many_problems_show_the_first_ten_and_a_count(case, ref):
    files = retype(case.files(), lambda d: b"0.5\n")
    message = rejection(case, ref, files)
    lines = message.splitlines()
    assert lines[0] == "submission error: 15 problems found (showing the first 10)"
    assert len(lines) == 12 and lines[-1] == "  ... and 5 more problems"


def test_oversized_zip_entry_is_read_no_further_than_the_limit(case, ref, monkeypatch):
    """A member's declared size may lie (extraction writes what the data hold), so the
    scorer reads one byte past the limit and stops there."""
    files = case.files()
    files[case.path("image_inf", "dev", "model_0")] = b"0.5\n" * 2_000_000  # 8 MB
    path = case.write_zip(files)
    asked = []
    real_read = zipfile.ZipExtFile.read

    def spy(self, n=-1):
        asked.append(n)
        return real_read(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    with pytest.raises(S.SubmissionError) as info:
        S.score_submission(str(path), ref)
    assert "holds more than 5376 bytes, far larger than any valid prediction file" in (
        info.value.render()
    )
    assert max(asked) == 5377


def _declare_size(path, member, size):
    """Rewrite a member's uncompressed size in its local header and central directory."""
    data = bytearray(path.read_bytes())
    offset = zipfile.ZipFile(path).getinfo(member).header_offset
    data[offset + 22 : offset + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")  # the first central directory entry
    while True:
        name_len = int.from_bytes(data[central + 28 : central + 30], "little")
        if data[central + 46 : central + 46 + name_len] == member.encode():
            data[central + 24 : central + 28] = size.to_bytes(4, "little")
            break
        extra = int.from_bytes(data[central + 30 : central + 32], "little")
        comment = int.from_bytes(data[central + 32 : central + 34], "little")
        central += 46 + name_len + extra + comment
    path.write_bytes(bytes(data))


def test_zip_member_that_lies_about_its_size_is_not_read_past_it(case, ref):
    """Declared 100 bytes, holds 12 kB: reading stops at the declared size and fails."""
    files = case.files()
    rel = case.path("image_inf", "dev", "model_0")
    files[rel] = b"0.5\n" * 3000
    path = case.write_zip(files)
    _declare_size(path, rel, 100)
    assert zipfile.ZipFile(path).getinfo(rel).file_size == 100
    message = rejection_of_path(ref, path)
    assert f"'{rel}': the file could not be read: " in message


def test_corrupt_zip_member_is_the_participants_problem(case, ref):
    files = case.files()
    rel = case.path("image_hi", "final", "model_1")
    files[rel] = format_scores(np.random.default_rng(0).uniform(size=20))
    path = case.write_zip(files)
    info = zipfile.ZipFile(path).getinfo(rel)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(rel.encode())  # compressed data follow the header
    data[start : start + info.compress_size] = bytes(info.compress_size)
    path.write_bytes(bytes(data))
    assert f"'{rel}': the file could not be read: " in rejection_of_path(ref, path)


def test_oversized_file_in_an_expanded_folder_is_refused_unread(case, ref):
    files = case.files()
    res = case.write_dir(files)
    huge = res / case.path("image_lo", "dev", "model_1")
    with open(huge, "r+b") as handle:
        handle.truncate(50 * 1024**3)  # sparse: reading it would take minutes
    with pytest.raises(S.SubmissionError, match="the submission's files hold 536870"):
        S.score_submission(str(res), ref)


def _zip_with(case, extra_infos):
    path = case.write_zip(case.files())
    with zipfile.ZipFile(path, "a") as archive:
        for info, data in extra_infos:
            archive.writestr(info, data)
    return path


def test_a_symlink_member_is_read_as_the_file_extraction_writes(case, ref):
    """zipfile's extraction (the platform's) writes a link member as a regular file holding
    the link's text; the scorer, which never extracts, reads it the same way."""
    info = zipfile.ZipInfo("image/image_inf/dev/model_9/link")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert S.validate_submission(str(_zip_with(case, [(info, "/etc/passwd")])), ref) == [
        "ignored 1 file that is not part of the expected layout: 'image/image_inf/dev/model_9/link'"
    ]
    rel = case.path("image_inf", "dev", "model_0")
    files = case.files()
    del files[rel]
    path = case.write_zip(files)
    info = zipfile.ZipInfo(rel)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, "/etc/passwd")
    assert f"'{rel}': line 1 (value #1): '/etc/passwd' is not a number" in rejection_of_path(
        ref, path
    )


@pytest.mark.parametrize(
    "prefix", ["/", "../", "image/../", "./", "//"], ids=["abs", "up", "up-inside", "dot", "double"]
)
def test_member_names_are_cleaned_as_the_platforms_extraction_cleans_them(case, ref, prefix):
    """ZipFile._extract_member drops '', '.' and '..' parts: the files land inside the folder,
    at the cleaned path, and are scored there."""
    files = {prefix + rel: data for rel, data in case.files().items()}
    assert S.score_submission(str(case.write_zip(files)), ref).scores == canonical_scores(case, ref)


@pytest.mark.parametrize("name", ["C:\\evil.csv", "..\\evil.csv", "image\\notes.txt"])
def test_a_backslash_is_part_of_a_file_name_as_on_the_platform(case, ref, name):
    """Linux keeps a backslash in the name, so these are single files at the top."""
    warnings = S.validate_submission(str(_zip_with(case, [(zipfile.ZipInfo(name), "0.5\n")])), ref)
    assert warnings == [f"ignored 1 file that is not part of the expected layout: {name!r}"]


def test_symlinks_in_an_expanded_folder_are_rejected(case, ref, tmp_path):
    res = case.write_dir(case.files())
    secret = tmp_path / "secret.csv"
    secret.write_text("1\n" * 20)
    target = res / case.path("image_inf", "dev", "model_0")
    target.unlink()
    target.symlink_to(secret)
    (res / "image" / "linked_dir").symlink_to(tmp_path, target_is_directory=True)
    message = rejection(case, ref, {}, as_zip=False)
    assert "'image/image_inf/dev/model_0/prediction.csv' is a symbolic link" in message
    assert "'image/linked_dir' is a symbolic link" in message


def test_a_file_that_is_not_a_zip_is_rejected(case, ref, tmp_path):
    fake = tmp_path / "submission.zip"
    fake.write_text("0.5\n0.5\n")
    with pytest.raises(S.SubmissionError, match="'submission.zip' is not a zip file"):
        S.score_submission(str(fake), ref)


def test_empty_and_absent_submissions_are_rejected(case, ref, tmp_path):
    with pytest.raises(S.SubmissionError, match="the submission is empty"):
        S.score_submission(str(case.write_zip({})), ref)
    with pytest.raises(S.SubmissionError, match="no submission found"):
        S.score_submission(str(tmp_path / "nothing.zip"), ref)


# --- broken reference data is the organizer's problem ----------------------------------------


def _broken_reference(case, mutate):
    path = case.write_reference("broken")
    mutate(path)
    with pytest.raises(S.ReferenceDataError) as info:
        S.score_submission(str(case.write_zip(case.files())), str(path))
    message = info.value.render()
    assert message.startswith("reference data error (organizer): ")
    return message


def _edit_manifest(edit):
    def mutate(path):
        manifest = json.loads((path / "manifest.json").read_text())
        edit(manifest)
        (path / "manifest.json").write_text(json.dumps(manifest))

    return mutate


REFERENCE_PROBLEMS = {
    "no manifest": (lambda p: (p / "manifest.json").unlink(), "no manifest.json at the root"),
    "not JSON": (lambda p: (p / "manifest.json").write_text("{"), "is not valid JSON"),
    "wrong format": (
        _edit_manifest(lambda m: m.update(format="csv")),
        "format is 'csv', expected 'mico-reference/1'",
    ),
    "scored phase not listed": (
        _edit_manifest(lambda m: m["scenarios"][1]["models"].pop("dev")),
        "scenario 2 (image_hi) lists no models for the scored phase 'dev'",
    ),
    "bad count": (
        _edit_manifest(lambda m: m["scenarios"][0]["models"]["dev"].update(model_0=-3)),
        "dev/model_0 count must be a positive integer",
    ),
    "unsafe id": (
        _edit_manifest(lambda m: m["scenarios"][0].update(id="../x")),
        "scenario 1 id '../x' is not a plain name",
    ),
    "missing solution": (
        lambda p: (p / "image/image_lo/dev/model_2/solution.csv").unlink(),
        "image/image_lo/dev/model_2/solution.csv is missing",
    ),
    "short solution": (
        lambda p: (p / "image/image_lo/dev/model_2/solution.csv").write_text("1\n0\n"),
        "has 2 values, the manifest says 20 challenge points",
    ),
    "one class only": (
        lambda p: [
            (p / f"image/image_hi/dev/model_{i}/solution.csv").write_text("1\n" * 20)
            for i in range(3)
        ],
        "scenario 'image_hi': the dev solutions need both members and non-members",
    ),
}


@pytest.mark.parametrize("problem", list(REFERENCE_PROBLEMS))
def test_broken_reference_data_is_reported_as_an_organizer_error(case, problem):
    mutate, expected = REFERENCE_PROBLEMS[problem]
    assert expected in _broken_reference(case, mutate)


@pytest.mark.parametrize(
    "form",
    [
        lambda text: text.replace("\n", "\r\n"),
        lambda text: "".join(f"{v}.0\n" for v in text.split()),
        lambda text: ",".join(text.split()),
    ],
)
def test_solution_files_in_other_number_forms_give_the_same_scores(case, ref, form):
    other = case.write_reference("ref_other")
    for sid in case.scenarios:
        for model in case.model_names("dev"):
            path = other / case.task / sid / "dev" / model / "solution.csv"
            path.write_text(form(path.read_text()))
    submission = str(case.write_zip(case.files()))
    assert S.score_submission(submission, str(other)).scores == canonical_scores(case, ref)


def test_solution_problems_never_quote_solution_values(case):
    def mutate(path):
        (path / "image/image_inf/dev/model_0/solution.csv").write_text("0.123456789\n" * 20)
        (path / "image/image_inf/dev/model_1/solution.csv").write_text("1\nsecretword\n" * 10)

    message = _broken_reference(case, mutate)
    assert "model_0/solution.csv: value #1 is not 0 or 1" in message
    assert "model_1/solution.csv: line 2 (value #2) is not a number" in message
    assert "0.123456789" not in message and "secretword" not in message


# --- the command line: exit status, messages, outputs ----------------------------------------


def _run_main(capsys, argv):
    status = S.main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def test_local_mode_writes_three_files_with_the_same_keys(case, ref, capsys, tmp_path):
    out_dir = tmp_path / "out"
    argv = ["--submission", str(case.write_zip(case.files())), "--reference", ref]
    status, out, err = _run_main(capsys, [*argv, "--output", str(out_dir), "--no-plots"])
    assert (status, err) == (0, "")
    assert sorted(os.listdir(out_dir)) == ["detailed_results.html", "scores.json", "scores.txt"]
    txt_keys = [line.split(":")[0] for line in (out_dir / "scores.txt").read_text().splitlines()]
    assert txt_keys == list(json.loads((out_dir / "scores.json").read_text())) == S.score_keys(3)
    assert out.splitlines()[1:] == (out_dir / "scores.txt").read_text().splitlines()


def test_submission_errors_exit_1_and_remove_stale_outputs(case, ref, capsys, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "scores.txt").write_text("stale: 1.0\n")
    files = case.files()
    files[case.path("image_inf", "dev", "model_0")] = b"oops\n"
    argv = ["--submission", str(case.write_zip(files)), "--reference", ref]
    status, out, err = _run_main(capsys, [*argv, "--output", str(out_dir)])
    assert status == 1 and out == ""
    assert err.startswith("submission error: ") and "Traceback" not in err
    assert os.listdir(out_dir) == []


def test_reference_errors_exit_2(case, capsys, tmp_path):
    argv = ["--submission", str(case.write_zip(case.files())), "--reference", str(tmp_path)]
    status, _, err = _run_main(capsys, argv)
    assert status == 2 and err.startswith("reference data error (organizer): ")


def test_internal_errors_exit_3_with_one_line_and_no_outputs(case, ref, capsys, tmp_path):
    out_dir = tmp_path / "out"
    argv = ["--submission", str(case.write_zip(case.files())), "--reference", ref]
    real = S.report.write_outputs

    def fail_midway(output_dir, contents, *rest):
        contents = dict(contents)
        contents["scores.txt"] = None  # writing it raises TypeError after the others
        real(output_dir, contents, *rest)

    S.report.write_outputs = fail_midway
    try:
        status, _, err = _run_main(capsys, [*argv, "--output", str(out_dir), "--no-plots"])
    finally:
        S.report.write_outputs = real
    assert status == 3 and len(err.splitlines()) == 1
    assert err.startswith("internal error in the scoring program (please tell the organizers)")
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize(
    "argv",
    [[], ["only_input"], ["--submission", "x.zip"], ["in", "out", "--reference", "r"]],
)
def test_wrong_command_lines_exit_4(capsys, argv):
    with pytest.raises(SystemExit) as info:
        S.main(argv)
    assert info.value.code == 4
    assert "usage error: " in capsys.readouterr().err


def test_nothing_printed_or_written_reveals_a_label(case, ref, capsys, tmp_path):
    """Swapping the labels of two points with equal scores changes no output byte."""
    files = case.files()
    rel = case.path("image_inf", "dev", "model_0")
    labels = case.labels[("image_inf", "dev", "model_0")]
    member, outsider = int(np.flatnonzero(labels == 1)[0]), int(np.flatnonzero(labels == 0)[0])
    values = case.scores[("image_inf", "dev", "model_0")].copy()
    values[[member, outsider]] = 0.5
    files[rel] = format_scores(values)
    submission = str(case.write_zip(files))
    outputs = []
    for name in ("a", "b"):
        if name == "b":
            labels[[member, outsider]] = labels[[outsider, member]]
        reference = str(case.write_reference(f"ref_{name}"))
        out_dir = tmp_path / f"out_{name}"
        argv = ["--submission", submission, "--reference", reference, "--output", str(out_dir)]
        status, out, err = _run_main(capsys, argv)
        assert status == 0
        written = [(out_dir / f).read_bytes() for f in sorted(os.listdir(out_dir))]
        outputs.append((out, err, written))
        solution = case.solution_text("image_inf", "dev", "model_0")
        assert solution.strip() not in out + err
        assert all(solution.strip().encode() not in data for data in written)
    assert outputs[0] == outputs[1]


def test_an_output_path_that_is_a_file_is_a_usage_error(case, ref, tmp_path, capsys):
    output = tmp_path / "scores"
    output.write_text("not a folder")
    submission = str(case.write_zip(case.files()))
    status = S.main(["--submission", submission, "--reference", ref, "--output", str(output)])
    assert status == 4
    assert capsys.readouterr().err == f"output error: {output}: not a folder\n"
