"""The competition schedule: one definition in the preset, validated on load, rendered the same
to both platforms (dates as quoted UTC strings both unpackers read back as the same instant)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from generator.publish.platforms import render_codabench_yaml, render_codalab_yaml
from generator.spec.presets import PresetError, load_preset

from .test_presets import _write

UTC = dt.UTC


def _with_competition(tmp_path, **sections):
    return _write(tmp_path, lambda raw: raw["competition"].update(sections))


def test_demo_schedule_is_read_as_utc_instants():
    schedule = load_preset("demo").schedule
    assert schedule.development_start == dt.datetime(2027, 1, 11, tzinfo=UTC)
    assert schedule.development_end == dt.datetime(2027, 3, 15, tzinfo=UTC)
    assert schedule.final_start == dt.datetime(2027, 3, 15, 12, tzinfo=UTC)
    assert schedule.end == dt.datetime(2027, 4, 15, 12, tzinfo=UTC)
    assert schedule.counted_submission == "latest"


def test_an_offset_is_converted_to_utc_and_a_bare_date_is_midnight(tmp_path):
    path = _with_competition(
        tmp_path,
        development={"start": "2027-01-11T09:30+02:00", "end": "2027-03-15"},
    )
    schedule = load_preset(path).schedule
    assert schedule.development_start == dt.datetime(2027, 1, 11, 7, 30, tzinfo=UTC)
    assert schedule.development_end == dt.datetime(2027, 3, 15, tzinfo=UTC)


def test_both_platforms_get_the_same_instants_as_quoted_utc_strings():
    preset = load_preset("demo")
    task = preset.task("image")
    codalab_text, codabench_text = (
        render_codalab_yaml(preset, task),
        render_codabench_yaml(preset, task),
    )
    assert "start_date: '2027-03-15 12:00:00'" in codalab_text  # quoted: a string, not a date
    assert "start: '2027-03-15 12:00:00'" in codabench_text
    codalab, codabench = yaml.safe_load(codalab_text), yaml.safe_load(codabench_text)
    dev, final = (codalab["phases"][n] for n in (1, 2))
    assert (dev["start_date"], final["start_date"], codalab["end_date"]) == (
        "2027-01-11 00:00:00",
        "2027-03-15 12:00:00",
        "2027-04-15 12:00:00",
    )
    cb_dev, cb_final = codabench["phases"]
    assert (cb_dev["start"], cb_dev["end"], cb_final["start"], cb_final["end"]) == (
        "2027-01-11 00:00:00",
        "2027-03-15 00:00:00",
        "2027-03-15 12:00:00",
        "2027-04-15 12:00:00",
    )
    assert dev["max_submissions"] == cb_dev["max_submissions"] == 1000
    assert dev["max_submissions_per_day"] == cb_dev["max_submissions_per_day"] == 30


@pytest.mark.parametrize(
    "sections,message",
    [
        ({"counted_submission": "first"}, "counted_submission: 'first' is not one of latest, best"),
        ({"development": {"start": "soon"}}, "development.start: 'soon' is not a date"),
        ({"development": {"start": 20270111}}, "20270111 is not a date and time"),
        ({"final": {"ends": "2027-05-01"}}, "competition.final: unknown key 'ends'"),
        (
            {"development": {"start": "2027-03-20 00:00", "end": "2027-03-15 00:00"}},
            "development.end: the Development phase must end after it starts",
        ),
        (
            {"final": {"start": "2027-03-15 00:10", "end": "2027-04-15 00:00"}},
            "must start at least 30 minutes after the Development phase ends",
        ),
        (
            {"final": {"start": "2027-03-15 12:00", "end": "2027-03-15 12:00"}},
            "final.end: the Final phase must end after it starts",
        ),
        (
            {"development": {"max_submissions": 10, "max_submissions_per_day": 30}},
            "max_submissions_per_day: 30 is more than max_submissions (10)",
        ),
        ({"development": {"max_submissions": 0}}, "expected a positive integer, got 0"),
        (
            {"development": {"max_submissions": 2**31}},
            "max_submissions: 2147483648 is out of range (allowed: 1 to 100,000)",
        ),
        (
            {"development_scores": "ranking"},
            "competition.development_scores: 'ranking' is not one of overall, scenarios, all",
        ),
        (
            {"development_decimals": 0},
            "competition.development_decimals: 0 is not a whole number from 1 to 6",
        ),
        ({"development_decimals": 7}, "development_decimals: 7 is not a whole number"),
        ({"development_decimals": "2"}, "development_decimals: '2' is not a whole number"),
        ({"development_decimals": True}, "development_decimals: True is not a whole number"),
        ({"development_decimal": 2}, "unknown key 'development_decimal'"),
    ],
)
def test_schedule_mistakes_name_the_file_and_the_key(tmp_path, sections, message):
    path = _with_competition(tmp_path, **sections)
    with pytest.raises(PresetError) as error:
        load_preset(path)
    assert str(path) in str(error.value) and message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_preset_without_a_competition_section_gets_the_defaults(tmp_path):
    path = _write(tmp_path, lambda raw: raw.pop("competition"))
    schedule = load_preset(path).schedule
    assert schedule.counted_submission == "latest"
    assert schedule.final_start - schedule.development_end >= dt.timedelta(minutes=30)


def test_development_shows_only_the_overall_score_at_two_decimals_by_default(tmp_path):
    path = _write(tmp_path, lambda raw: raw.pop("competition"))
    disclosure = load_preset(path).schedule.development_disclosure
    assert (disclosure.scores, disclosure.decimals) == ("overall", 2)


@pytest.mark.parametrize("view", ["overall", "scenarios", "all"])
def test_the_development_disclosure_is_read_from_the_competition_section(tmp_path, view):
    path = _with_competition(tmp_path, development_scores=view, development_decimals=5)
    disclosure = load_preset(path).schedule.development_disclosure
    assert disclosure.as_manifest() == {"scores": view, "decimals": 5}
