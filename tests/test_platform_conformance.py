"""check-bundle as a conformance checker: each launch-day failure of issue #10, planted in a
bundle that otherwise passes, is named in one line.

The rules follow the platforms' own code (generator/publish/conformance.py cites file and function for
each); these tests show that a bundle breaking one of them does not pass unnoticed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
import yaml

from generator.publish.checkbundle import check_codabench, check_codalab, check_one
from generator.publish.columns import score_decimals
from generator.publish.platforms import render_codabench_yaml, render_codalab_yaml

Edit = Callable[[dict], None]


def _rewrite(source: Path, target: Path, change: Callable[[str, bytes], bytes]) -> Path:
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w") as out:
        for item in archive.infolist():
            out.writestr(item, change(item.filename, archive.read(item)))
    return target


def planted(bundles: Path, tmp_path: Path, platform: str, edit: Edit) -> Path:
    """The image task's bundle for ``platform`` with ``edit`` applied to its competition.yaml."""

    def change(name: str, data: bytes) -> bytes:
        if name != "competition.yaml":
            return data
        competition = yaml.safe_load(data)
        edit(competition)
        return yaml.safe_dump(competition, sort_keys=False, allow_unicode=True).encode()

    return _rewrite(bundles / f"image-{platform}.zip", tmp_path / f"image-{platform}.zip", change)


def planted_program(bundles: Path, tmp_path: Path, platform: str, file: str, old: str, new: str):
    """The image task's bundle for ``platform`` whose scoring program has ``old`` -> ``new``."""

    def patch(text: bytes) -> bytes:
        assert old.encode() in text, f"{file} no longer holds {old!r}"
        return text.replace(old.encode(), new.encode())

    def change(name: str, data: bytes) -> bytes:
        if platform == "codabench":
            return patch(data) if name == f"scoring_program/{file}" else data
        if name != "scoring_program.zip":
            return data
        inner, buffer = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with inner, zipfile.ZipFile(buffer, "w") as out:
            for item in inner.infolist():
                content = inner.read(item)
                out.writestr(item, patch(content) if item.filename == file else content)
        return buffer.getvalue()

    return _rewrite(bundles / f"image-{platform}.zip", tmp_path / f"image-{platform}.zip", change)


def problems_of(tiny_preset, path: Path, score: bool = False) -> list[str]:
    """check-bundle's check of one bundle; ``score`` runs the bundled scoring program too,
    which only the plants in the scoring program need (it costs seconds per bundle)."""
    check = check_codalab if path.name.endswith("-codalab.zip") else check_codabench
    return check_one(partial(check, score=score), tiny_preset, tiny_preset.task("image"), path)


def the_one_line(problems: list[str], words: str) -> str:
    found = [p for p in problems if words in p]
    assert len(found) >= 1, f"no problem mentions {words!r}: {problems}"
    assert "\n" not in found[0]
    return found[0]


def _codalab_phase(competition: dict, label: str) -> dict:
    return next(p for p in competition["phases"].values() if p["label"] == label)


def _codabench_phase(competition: dict, name: str) -> dict:
    return next(p for p in competition["phases"] if p["name"] == name)


def test_the_built_bundles_follow_every_rule(tiny_preset, bundles):
    for platform in ("codalab", "codabench"):
        assert problems_of(tiny_preset, bundles / f"image-{platform}.zip", score=True) == []


# --- 1. Codabench: phase dates that conflict, times that the unpacker drops --------------------


def test_1_codabench_final_starting_when_development_ends(tiny_preset, bundles, tmp_path):
    def edit(competition):
        dev, final = competition["phases"]
        dev["end"] = final["start"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "Phases dates conflict")


def test_1_codabench_unquoted_dates_lose_their_time(tiny_preset, bundles, tmp_path):
    import datetime as dt

    def edit(competition):
        _codabench_phase(competition, "Final")["start"] = dt.datetime(2027, 3, 15, 12, 0)

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "unquoted YAML date")


# --- 2. CodaLab: auto_migration runs during Development ---------------------------------------


def test_2_codalab_auto_migration_on_the_final_phase(tiny_preset, bundles, tmp_path):
    def edit(competition):
        _codalab_phase(competition, "Final")["auto_migration"] = True

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "auto_migration, which CodaLab runs during the Development phase")


def test_2_codalab_final_results_not_hidden(tiny_preset, bundles, tmp_path):
    def edit(competition):
        del _codalab_phase(competition, "Final")["leaderboard_management_mode"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "does not hide its results")


# --- 3. CodaLab: force-best and the score compare the lowest-rank column -----------------------


def test_3_codalab_rank_1_on_every_scenario_tpr(tiny_preset, bundles, tmp_path):
    def edit(competition):
        for key, column in competition["leaderboard"]["columns"].items():
            if key.endswith("_TPR_FPR_1000"):
                column["rank"] = 1

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "must belong to average_TPR_FPR_1000 alone")


# --- 4. Codabench: the Final phase must score on the final reference data ----------------------


def test_4_codabench_final_phase_on_the_development_task(tiny_preset, bundles, tmp_path):
    def edit(competition):
        _codabench_phase(competition, "Final")["tasks"] = [0]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "scores with the Development reference data")


def test_4_codabench_multi_task_final_phase_does_not_migrate(tiny_preset, bundles, tmp_path):
    def edit(competition):
        _codabench_phase(competition, "Final")["tasks"] = [0, 1]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "exactly one task, or nothing migrates")


def test_4_codabench_final_phase_without_migration(tiny_preset, bundles, tmp_path):
    def edit(competition):
        del _codabench_phase(competition, "Final")["auto_migrate_to_this_phase"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "does not set auto_migrate_to_this_phase")


# --- 5. CodaLab: detailed_results.html must be written in place -------------------------------


def test_5_a_scorer_that_renames_detailed_results_over_the_workers_file(
    tiny_preset, bundles, tmp_path
):
    path = planted_program(
        bundles,
        tmp_path,
        "codalab",
        "scorer_report.py",
        '    with open(path, "w", encoding="utf-8", newline="\\n") as handle:\n'
        "        handle.write(text)\n\n\ndef write_outputs(",
        "    os.remove(path) if os.path.exists(path) else None\n"
        '    with open(path + ".tmp", "w", encoding="utf-8", newline="\\n") as handle:\n'
        "        handle.write(text)\n"
        '    os.replace(path + ".tmp", path)\n\n\ndef write_outputs(',
    )
    problems = problems_of(tiny_preset, path, score=True)
    the_one_line(problems, "replaces detailed_results.html by a new file")


def test_5_a_scorer_that_deletes_detailed_results_on_failure(tiny_preset, bundles, tmp_path):
    path = planted_program(
        bundles,
        tmp_path,
        "codalab",
        "score.py",
        "report.remove_outputs(output_dir, _stale_outputs(args))\n            if args.platform:",
        "report.remove_outputs(output_dir)\n            if False:",
    )
    problems = problems_of(tiny_preset, path, score=True)
    line = the_one_line(problems, "deletes detailed_results.html")
    assert line.endswith("(malformed submission)")


# --- 6. Codabench: detailed results are off unless enabled -------------------------------------


def test_6_codabench_without_enable_detailed_results(tiny_preset, bundles, tmp_path):
    def edit(competition):
        del competition["enable_detailed_results"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "enable_detailed_results is not true")


# --- 7. CodaLab: labels, ranks and the column each board sorts by ------------------------------


def test_7_codalab_labels_that_lost_their_first_word(tiny_preset, bundles, tmp_path):
    def edit(competition):
        competition["leaderboard"]["columns"]["scenario1_AUC"]["label"] = "= ∞ AUC"

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "does not start with a letter or digit")


def test_7_codalab_ranks_that_skip_a_number(tiny_preset, bundles, tmp_path):
    def edit(competition):
        competition["leaderboard"]["columns"]["scenario1_AUC"]["rank"] = 500

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "column ranks are not 1..")


def test_7_codalab_scenario_board_without_selection_default(tiny_preset, bundles, tmp_path):
    def edit(competition):
        for column in competition["leaderboard"]["columns"].values():
            column.pop("selection_default", None)

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    line = the_one_line(problems, "would sort by scenario1_TPR_FPR_10 (10 columns tie")
    assert "not by scenario1_TPR_FPR_1000" in line


# --- 8. Codabench rounds to 2 decimals unless told -------------------------------------------


def test_8_codabench_default_precision(tiny_preset, bundles, tmp_path):
    def edit(competition):
        for column in competition["leaderboards"][0]["columns"]:
            del column["precision"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    needed = score_decimals(tiny_preset, tiny_preset.task("image"))
    the_one_line(problems, f"shows 2 decimals; TPR@0.001 needs {needed}")


def test_8_codalab_default_numeric_format(tiny_preset, bundles, tmp_path):
    def edit(competition):
        for column in competition["leaderboard"]["columns"].values():
            del column["numeric_format"]

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "shows None decimals")


# --- 9. The two platforms' dates must be the preset's --------------------------------------


@pytest.mark.parametrize("platform", ["codalab", "codabench"])
def test_9_a_final_start_that_disagrees_with_the_schedule(tiny_preset, bundles, tmp_path, platform):
    def edit(competition):
        if platform == "codalab":
            _codalab_phase(competition, "Final")["start_date"] = "2027-03-16 00:00:00"
        else:
            _codabench_phase(competition, "Final")["start"] = "2027-03-16 00:00:00"

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, platform, edit))
    line = the_one_line(problems, "the two platforms' bundles must agree")
    assert "the Final start is 2027-03-16 00:00:00 UTC" in line


# --- 10. A zip inside the submission zip gets the same answer everywhere -----------------------


@pytest.mark.parametrize("platform", ["codalab", "codabench"])
def test_10_a_scorer_accepting_nested_zips_only_where_unpacked(
    tiny_preset, bundles, tmp_path, platform
):
    path = planted_program(
        bundles,
        tmp_path,
        platform,
        "scorer_inputs.py",
        "    if nested:\n",
        "    if problems and nested:\n",
    )
    problems = problems_of(tiny_preset, path, score=True)
    the_one_line(problems, "a zip inside the submission zip is accepted on codalab only")


# --- 11. Which submission counts is the preset's rule, on both platforms -----------------------


def test_11_codalab_keeping_the_best_under_the_latest_rule(tiny_preset, bundles, tmp_path):
    def edit(competition):
        _codalab_phase(competition, "Development")["force_best_submission_to_leaderboard"] = True

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codalab", edit))
    the_one_line(problems, "keeps the best submission, the preset's rule")


def test_11_codabench_force_best_under_the_latest_rule(tiny_preset, bundles, tmp_path):
    def edit(competition):
        competition["leaderboards"][0]["submission_rule"] = "Force_Best"

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "the preset's rule 'latest' needs 'Force_Last'")


def test_11_the_best_rule_renders_to_both_platforms_and_the_pages(tiny_preset):
    from generator.publish.pages import render_markdown_pages

    schedule = replace(tiny_preset.schedule, counted_submission="best")
    preset = replace(tiny_preset, schedule=schedule)
    task = preset.task("image")
    codalab = yaml.safe_load(render_codalab_yaml(preset, task))
    development = _codalab_phase(codalab, "Development")
    assert development["force_best_submission_to_leaderboard"] is True
    assert codalab["force_submission_to_leaderboard"] is False
    codabench = yaml.safe_load(render_codabench_yaml(preset, task))
    assert codabench["leaderboards"][0]["submission_rule"] == "Force_Best"
    pages = render_markdown_pages(preset, task)
    assert "Your **best** development submission counts" in pages["evaluation"]
    latest = render_markdown_pages(tiny_preset, task)
    assert "Only your **latest** successfully scored" in latest["evaluation"]
    assert "Only your **latest** successfully scored" in latest["overview"]


def test_final_phase_limits_of_zero_mean_unlimited_on_codabench(tiny_preset, bundles, tmp_path):
    def edit(competition):
        _codabench_phase(competition, "Final")["max_submissions"] = 0

    problems = problems_of(tiny_preset, planted(bundles, tmp_path, "codabench", edit))
    the_one_line(problems, "0 or none means unlimited")


# --- 12. Development shows only its disclosure (issue #11 item 13) -----------------------------


def planted_manifest(bundles: Path, tmp_path: Path, platform: str, phase: str, edit: Edit) -> Path:
    """The image task's bundle for ``platform`` with ``edit`` applied to the ``phase``
    reference data's manifest.json (an inner zip on CodaLab, a folder on Codabench)."""

    def patch(data: bytes) -> bytes:
        manifest = json.loads(data)
        edit(manifest)
        return json.dumps(manifest).encode()

    def change(name: str, data: bytes) -> bytes:
        if platform == "codabench":
            return patch(data) if name == f"reference_data_{phase}/manifest.json" else data
        if name != f"reference_data_{phase}.zip":
            return data
        inner, buffer = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with inner, zipfile.ZipFile(buffer, "w") as out:
            for item in inner.infolist():
                content = inner.read(item)
                out.writestr(item, patch(content) if item.filename == "manifest.json" else content)
        return buffer.getvalue()

    return _rewrite(bundles / f"image-{platform}.zip", tmp_path / f"image-{platform}.zip", change)


@pytest.mark.parametrize("platform", ["codalab", "codabench"])
def test_12_a_dev_reference_without_its_disclosure(tiny_preset, bundles, tmp_path, platform):
    def edit(manifest):
        manifest.pop("disclosure")

    path = planted_manifest(bundles, tmp_path, platform, "dev", edit)
    problems = problems_of(tiny_preset, path)
    the_one_line(problems, "the dev reference data show every score at full precision")


def test_12_a_final_reference_that_rounds(tiny_preset, bundles, tmp_path):
    def edit(manifest):
        manifest["disclosure"] = {"scores": "all", "decimals": 2}

    path = planted_manifest(bundles, tmp_path, "codabench", "final", edit)
    problems = problems_of(tiny_preset, path)
    the_one_line(problems, "the final reference data show 'all' at 2 decimals")


def test_12_a_scorer_that_writes_every_score_in_development(tiny_preset, bundles, tmp_path):
    path = planted_program(
        bundles,
        tmp_path,
        "codalab",
        "scorer_disclosure.py",
        "    if disclosure is None:\n        return OrderedDict(scores)",
        "    if True:\n        return OrderedDict(scores)",
    )
    problems = problems_of(tiny_preset, path, score=True)
    line = the_one_line(problems, "beyond its phase")
    assert "phase 1" in line and "scenario1_AUC" in line
