"""The Development leak budget: a manifest's ``disclosure`` decides everything the scorer shows.

Both platforms hand the submitter all the scorer writes (scores files, log, detailed page), so
a dev reference whose manifest carries ``{"scores": VIEW, "decimals": N}`` must get only the
visible keys, rounded, and the same numbers in scores.txt, scores.json, stdout and the detailed
page; a final reference (no disclosure) gets the full output as before. A broken disclosure is
an organizer error of one line. (Python 3.7 syntax: these run on the py37 image too.)
"""

from __future__ import annotations

import html
import json
import re

import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import ScorerCase, load_scorer
except ImportError:
    from test_scorer_support import ScorerCase, load_scorer

S = load_scorer()
import scorer_disclosure as D  # noqa: E402  (beside score.py, on the path load_scorer set)

PAGE = "detailed_results.html"
RANKING = S.RANKING_KEY
SCENARIO_TPR = ["scenario1_TPR_FPR_1000", "scenario2_TPR_FPR_1000", "scenario3_TPR_FPR_1000"]


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


def _manifest(case, phase="dev", disclosure=None):
    manifest = case.manifest(phase)
    if disclosure is not None:
        manifest["disclosure"] = disclosure
    return manifest


def _platform_run(case, capsys, manifest, phase="dev"):
    """Score the canonical submission as the workers run the scorer; return what it left."""
    run = case.root / "run"
    case.write_reference(name="run/input/ref", phase=phase, manifest=manifest)
    case.write_dir(case.files(), name="run/input/res")
    output = run / "output"
    output.mkdir()
    (output / PAGE).touch()
    status = S.main([str(run / "input"), str(output)])
    out, err = capsys.readouterr()
    return status, out, err, output


def _full_scores(case, phase="dev"):
    """The unrestricted scores of the canonical submission (no disclosure)."""
    ref = case.write_reference(name=f"full-{phase}", phase=phase, manifest=case.manifest(phase))
    return S.score_submission(str(case.write_dir(case.files(), name="full-res")), str(ref)).scores


def _txt(path):
    return {
        key: float(value)
        for key, value in (line.split(":") for line in path.read_text().splitlines())
    }


@pytest.mark.parametrize(
    "view, decimals, keys",
    [
        ("overall", 2, [RANKING]),
        ("scenarios", 3, SCENARIO_TPR + [RANKING]),
        ("all", 1, None),
    ],
)
def test_dev_outputs_show_only_the_visible_keys_rounded_and_agree(
    case, capsys, view, decimals, keys
):
    full = _full_scores(case)
    keys = list(full) if keys is None else keys
    manifest = _manifest(case, disclosure={"scores": view, "decimals": decimals})
    status, out, err, output = _platform_run(case, capsys, manifest)
    assert status == 0, err
    expected = {key: round(full[key], decimals) for key in keys}
    txt = _txt(output / "scores.txt")
    js = json.loads((output / "scores.json").read_text())
    assert list(txt) == [k for k in full if k in keys]  # the scorer's key order
    assert txt == js == expected
    printed = out.splitlines()
    assert printed[0].startswith("scored task image, phase dev")
    assert printed[1:] == (output / "scores.txt").read_text().splitlines()
    page = (output / PAGE).read_text(encoding="utf-8")
    assert "<svg" not in page and "<polyline" not in page
    for key in full:
        shown = re.search(rf"\b{key}\b", page) is not None
        assert shown == (key in keys), key
    cells = re.findall(r"<td>([-0-9.]+)</td>", page)
    assert cells == [f"{expected[k]:.{decimals}f}" for k in txt]
    assert html.escape(D.Disclosure(view, decimals).describe()) in page


def test_dev_output_holds_no_digit_beyond_the_decimals(case, capsys):
    manifest = _manifest(case, disclosure={"scores": "all", "decimals": 2})
    status, out, err, output = _platform_run(case, capsys, manifest)
    assert status == 0, err
    for text in ((output / "scores.txt").read_text(), (output / "scores.json").read_text(), out):
        for number in re.findall(r"\d+\.\d+", text):
            assert len(number.split(".")[1]) <= 2, number


def test_final_output_is_the_full_output(case, capsys):
    full = _full_scores(case, phase="final")
    status, out, err, output = _platform_run(case, capsys, case.manifest("final"), "final")
    assert status == 0, err
    assert _txt(output / "scores.txt") == json.loads((output / "scores.json").read_text())
    assert _txt(output / "scores.txt") == dict(full)
    assert list(_txt(output / "scores.txt")) == S.score_keys(3)
    page = (output / PAGE).read_text(encoding="utf-8")
    assert "<svg" in page and "scenario3_AUC" in page


def test_a_dev_manifest_without_disclosure_gets_the_full_output(case, capsys):
    status, out, err, output = _platform_run(case, capsys, case.manifest("dev"))
    assert status == 0, err
    assert list(_txt(output / "scores.txt")) == S.score_keys(3)


@pytest.mark.parametrize(
    "disclosure, problem",
    [
        ("overall", "'disclosure' must be an object with scores and decimals"),
        ({"scores": "most", "decimals": 2}, "disclosure scores 'most' is not one of"),
        ({"scores": "overall", "decimals": 0}, "disclosure decimals 0 is not a whole number"),
        ({"scores": "overall", "decimals": 7}, "disclosure decimals 7 is not a whole number"),
        ({"scores": "overall", "decimals": True}, "disclosure decimals True is not"),
        ({"scores": "overall", "decimals": 2.0}, "disclosure decimals 2.0 is not"),
        ({"scores": "overall"}, "disclosure has no 'decimals'"),
        ({"scores": "overall", "decimals": 2, "subset": 0.5}, "unknown key 'subset'"),
        ({"scores": "x" * 500, "decimals": 2}, "..."),
    ],
)
def test_a_broken_disclosure_is_one_line_naming_the_manifest(case, capsys, disclosure, problem):
    manifest = _manifest(case, disclosure=disclosure)
    status, out, err, output = _platform_run(case, capsys, manifest)
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("reference data error (organizer): manifest.json: ")
    assert problem in err and len(err) < 200
    assert not (output / "scores.txt").exists() and not (output / "scores.json").exists()
    for (sid, phase, model), _ in case.labels.items():
        if phase == "dev":
            assert case.solution_text(sid, phase, model).strip() not in err


def test_disclose_filters_in_score_key_order_and_rounds():
    scores = {key: 0.123456 for key in S.score_keys(2)}
    assert D.disclose(scores, D.Disclosure("overall", 2)) == {RANKING: 0.12}
    shown = D.disclose(scores, D.Disclosure("scenarios", 4))
    assert list(shown) == ["scenario1_TPR_FPR_1000", "scenario2_TPR_FPR_1000", RANKING]
    assert set(shown.values()) == {0.1235}
    assert D.disclose(scores, None) == scores


def test_the_default_is_the_overall_score_at_two_decimals():
    assert D.Disclosure() == D.Disclosure("overall", 2)
    assert D.Disclosure().describe() == "only the overall ranking score, rounded to 2 decimals"
    assert D.SCORE_VIEWS == ("overall", "scenarios", "all")
