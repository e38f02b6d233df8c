"""The Development leak budget, generator side: preset -> dev manifest -> columns -> pages -> checks.

The preset's ``competition.development_scores`` / ``development_decimals`` reach the scorer only
through the dev reference manifest; the columns of both platforms serve both phases, so they
keep every key at the precision Final needs, and a dev score lacking a key leaves a blank cell
(generator/publish/columns.py cites the platform code). check-bundle's rules refuse a dev reference
without the preset's disclosure, a final reference with one, and scorer output that shows more
than its phase allows.
"""

from __future__ import annotations

import pytest
import yaml

from generator.publish.bundle import scoring_entries
from generator.publish.columns import development_keys, leaderboard_keys, score_decimals, score_keys
from generator.publish.conformance import (
    codabench_rules,
    codalab_rules,
    reference_disclosure_rules,
    scored_output_rules,
)
from generator.publish.export import reference_manifest
from generator.publish.pages import render_markdown_pages
from generator.publish.platforms import render_codabench_yaml, render_codalab_yaml
from generator.spec.disclosure import Disclosure, parse_disclosure
from generator.spec.presets import load_preset

from .test_presets import _write

RANKING = "average_TPR_FPR_1000"


def _preset(tmp_path, view, decimals):
    def change(raw):
        raw["competition"].update(development_scores=view, development_decimals=decimals)

    return load_preset(_write(tmp_path, change))


def test_the_dev_manifest_carries_the_disclosure_and_the_final_one_none(tmp_path):
    preset = _preset(tmp_path, "scenarios", 3)
    task = preset.task("image")
    dev = reference_manifest(preset, task, "dev")
    assert dev["disclosure"] == {"scores": "scenarios", "decimals": 3}
    assert "disclosure" not in reference_manifest(preset, task, "final")
    # What the generator writes is what the scorer accepts, as the same value.
    assert parse_disclosure(dev["disclosure"], "manifest.json") == (Disclosure("scenarios", 3), [])


@pytest.mark.parametrize(
    "view, shown",
    [
        ("overall", [RANKING]),
        ("scenarios", [RANKING] + [f"scenario{k}_TPR_FPR_1000" for k in (1, 2, 3)]),
        ("all", None),
    ],
)
def test_columns_of_both_platforms_follow_the_setting(tmp_path, view, shown):
    preset = _preset(tmp_path, view, 2)
    task = preset.task("image")
    every = leaderboard_keys(len(task.scenarios))
    assert development_keys(preset, task) == (every if shown is None else shown)
    decimals = score_decimals(preset, task)
    codalab = yaml.safe_load(render_codalab_yaml(preset, task))
    codabench = yaml.safe_load(render_codabench_yaml(preset, task))
    # Every key stays a column (Final fills them all), at the precision Final needs; a dev
    # score arrives rounded, so the display adds no digit the scorer did not write.
    columns = codalab["leaderboard"]["columns"]
    assert list(columns) == every
    assert {c["numeric_format"] for c in columns.values()} == {decimals}
    board = codabench["leaderboards"][0]["columns"]
    assert [c["key"] for c in board] == every
    assert {c["precision"] for c in board} == {decimals}
    # The column both platforms rank by is always one a dev score fills.
    assert board[codabench["leaderboards"][0]["primary_index"]]["key"] == RANKING
    assert min(columns.items(), key=lambda kv: kv[1]["rank"])[0] == RANKING
    assert codalab_rules(preset, task, codalab, "x") == []
    assert codabench_rules(preset, task, codabench, "x") == []


def test_the_evaluation_page_says_what_development_shows_and_why():
    preset = load_preset("demo")
    page = render_markdown_pages(preset, preset.task("image"))["evaluation"]
    assert "## What the development phase shows" in page
    assert "only the overall ranking score, rounded to 2 decimals" in page
    assert "detailed-results page show nothing more" in page
    assert "final phase shows every score at full precision" in page
    assert "36 submissions" in page
    assert f"| `{RANKING}` | Mean TPR@0.1FPR (ranking) | yes |" in page
    assert "| `scenario1_AUC` |" in page and "AUC | – |" in page


def test_the_evaluation_page_follows_another_setting(tmp_path):
    preset = _preset(tmp_path, "all", 4)
    page = render_markdown_pages(preset, preset.task("image"))["evaluation"]
    assert "shows every score, rounded to 4 decimals" in page
    assert "| – |" not in page


def test_the_bundled_scoring_program_holds_the_disclosure_module():
    names = [name for name, _ in scoring_entries()]
    assert "scorer_disclosure.py" in names and "score.py" in names


# --- check-bundle's rules ----------------------------------------------------------------------


def test_a_dev_reference_without_the_presets_disclosure_is_refused():
    preset = load_preset("demo")
    task = preset.task("image")
    dev = reference_manifest(preset, task, "dev")
    assert reference_disclosure_rules(preset, dev, "b") == []
    dev.pop("disclosure")
    (line,) = reference_disclosure_rules(preset, dev, "b")
    assert "the dev reference data show every score at full precision" in line
    assert "'overall' at 2 decimals" in line


def test_a_final_reference_with_a_disclosure_is_refused():
    preset = load_preset("demo")
    final = reference_manifest(preset, preset.task("image"), "final")
    assert reference_disclosure_rules(preset, final, "b") == []
    final["disclosure"] = {"scores": "all", "decimals": 6}
    (line,) = reference_disclosure_rules(preset, final, "b")
    assert "the final reference data show 'all' at 6 decimals" in line


def _dev_output(value=0.12):
    preset = load_preset("demo")
    task = preset.task("image")
    manifest = reference_manifest(preset, task, "dev")
    txt = {RANKING: value}
    stdout = f"scored task image, phase dev (3 scenarios)\n{RANKING}: {value!r}\n"
    page = f"<table><tr><td><code>{RANKING}</code></td><td>{value:.2f}</td></tr></table>"
    return task, manifest, leaderboard_keys(3), txt, stdout, page


def test_scorer_output_within_the_disclosure_passes():
    task, manifest, columns, txt, stdout, page = _dev_output()
    assert scored_output_rules(manifest, task, columns, txt, stdout, page, "b") == []


def test_scorer_output_beyond_the_disclosure_is_one_line_each():
    task, manifest, columns, txt, stdout, page = _dev_output()
    more = dict(txt, scenario1_AUC=0.5)
    (line,) = scored_output_rules(manifest, task, columns, more, stdout, page, "b")
    assert "scores.txt shows ['scenario1_AUC'] beyond its phase" in line
    (line,) = scored_output_rules(manifest, task, columns, {RANKING: 0.1234}, stdout, page, "b")
    assert "have more than 2 decimals" in line
    log = stdout + "scenario2_TPR_FPR_10: 0.25\n"
    (line,) = scored_output_rules(manifest, task, columns, txt, log, page, "b")
    assert "the scoring log shows hidden scores ['scenario2_TPR_FPR_10']" in line
    (line,) = scored_output_rules(manifest, task, columns, txt, stdout, page + "<svg>", "b")
    assert "draws ROC curves in a restricted phase" in line


def test_final_scorer_output_must_fill_every_column():
    preset = load_preset("demo")
    task = preset.task("image")
    manifest = reference_manifest(preset, task, "final")
    every = {key: 0.5 for key in score_keys(3)}
    assert scored_output_rules(manifest, task, list(every), every, "", "", "b") == []
    fewer = dict(every)
    fewer.pop("scenario3_AUC")
    problems = scored_output_rules(manifest, task, list(every), fewer, "", "", "b")
    assert any("columns without scores ['scenario3_AUC']" in p for p in problems)
