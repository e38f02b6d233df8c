"""The competition's schedule and rules: one definition, rendered to CodaLab and Codabench.

Phase dates, submission limits and which submission counts are read from the preset's
``competition`` section (validated here, on load) and rendered into both platforms'
competition.yaml by ``generator.publish.platforms``, so that the two bundles cannot disagree (issue #10).

Why the shape is what it is, from the platforms' code:

- Development ends, then Final starts, with a pause of at least ``MIN_PAUSE`` between the two.
  Codabench refuses a phase that starts when the previous one ends (codabench
  ``src/apps/competitions/unpackers/base_unpacker.py``, ``BaseUnpacker._validate_phase_ordering``:
  ``phase1['end'] == phase2['start']`` is "Phases dates conflict"), and its migration waits for
  every Development submission to finish (``Competition.apply_phase_migration``). CodaLab v1.5
  phases have no end (``CompetitionPhase.is_active``: a phase lasts until the next one starts)
  and its migration copies only from the *active* phase (``Competition.
  check_future_phase_sumbmissions``), so on CodaLab the organizer closes Development and
  migrates during the pause (README runbook); the pause is what makes that possible.
- Every instant is UTC with a time of day. Codabench keeps a time only from a quoted string and
  discards any offset (``unpackers/utils.py``, ``get_datetime``: a YAML datetime goes through
  ``datetime.combine(field, datetime.time())``; codabench #1399); CodaLab reads a quoted
  ``YYYY-MM-DD HH:MM:SS`` as UTC (``CompetitionDefBundle.localize_datetime``) but fails on a
  quoted date without a time. The renderers therefore write quoted ``'YYYY-MM-DD HH:MM:SS'``
  strings in UTC, for both platforms.
- Which submission counts defaults to MICO's rule, "only your latest submission will be
  considered"; ``best`` keeps each participant's best Development score instead, which is a
  selection on the dev labels and should be chosen knowingly.
- What a Development submission shows (``development_scores``, ``development_decimals``) is
  the leak budget of ``generator.spec.disclosure``: by default only the overall ranking score, at 2
  decimals. Both platforms hand the submitter everything the scorer writes, so the scorer
  applies it, from the dev reference manifest (``generator.publish.export.reference_manifest``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .disclosure import (
    DEFAULT_DECIMALS,
    DEFAULT_VIEW,
    Disclosure,
    decimals_problem,
    view_problem,
)

UTC = dt.UTC
# The least time between the Development end and the Final start (see the module docstring):
# CodaLab's migration runs every 5 minutes and waits for running submissions (300 s each).
MIN_PAUSE = dt.timedelta(minutes=30)
COUNTED_SUBMISSIONS = ("latest", "best")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULTS: dict[str, Any] = {
    "counted_submission": "latest",
    "development_scores": DEFAULT_VIEW,
    "development_decimals": DEFAULT_DECIMALS,
    "development": {
        "start": "2027-01-11 00:00:00",
        "end": "2027-03-15 00:00:00",
        "max_submissions": 1000,
        "max_submissions_per_day": 30,
    },
    "final": {"start": "2027-03-15 12:00:00", "end": "2027-04-15 12:00:00"},
}
_PHASE_KEYS = {
    "development": {"start", "end", "max_submissions", "max_submissions_per_day"},
    "final": {"start", "end"},
}


@dataclass(frozen=True)
class Schedule:
    """When each phase runs and how many submissions it takes; every instant is aware UTC."""

    development_start: dt.datetime
    development_end: dt.datetime  # no submission is taken between this and final_start
    final_start: dt.datetime
    end: dt.datetime  # the Final phase, and the competition, end here
    max_submissions: int  # per participant, Development phase
    max_submissions_per_day: int  # per participant, Development phase (UTC days)
    counted_submission: str = "latest"  # which Development submission is scored on final
    # What a Development submission shows; the Final phase always shows every score.
    development_disclosure: Disclosure = Disclosure()

    def manifest_disclosure(self, phase: str) -> dict | None:
        """The reference manifest's ``disclosure`` for ``phase``: the Development view for dev,
        none for final (the Final phase ranks and shows every score at full precision)."""
        return self.development_disclosure.as_manifest() if phase == "dev" else None


class ScheduleError(ValueError):
    """The competition section of a preset is malformed; the message names file and key."""


def utc_text(moment: dt.datetime) -> str:
    """``'YYYY-MM-DD HH:MM:SS'`` in UTC: what both platforms read back as the same instant."""
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def as_instant(value: Any) -> dt.datetime | None:
    """A YAML date, datetime or ISO text as an aware UTC instant; None if it is none of those.

    A date without a time means midnight UTC; a naive time is UTC; an offset is converted to
    UTC, never dropped.
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_instant(path: Path, where: str, value: Any) -> dt.datetime:
    """A preset date, ``2027-03-15 12:00`` (UTC unless an offset is given) or a YAML date."""
    moment = as_instant(value)
    if moment is None:
        raise ScheduleError(
            f"{path}: {where}: {value!r} is not a date and time like '2027-03-15 12:00' (UTC)"
        )
    return moment


# Both platforms keep submission limits in a Django PositiveIntegerField (codalab-competitions
# apps/web/models.py CompetitionPhase.max_submissions; codabench apps/competitions/models.py
# Phase.max_submissions_per_person), a 32-bit column that refuses more than 2**31 - 1 at
# upload. Every Development submission also reads a little of the dev labels
# (benchmarks/bench_leak.py), so the bound is far lower: 100,000 is 270 a day for a year.
MAX_SUBMISSIONS = 100_000


def _positive_int(path: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScheduleError(f"{path}: {where}: expected a positive integer, got {value!r}")
    if value > MAX_SUBMISSIONS:
        raise ScheduleError(
            f"{path}: {where}: {value} is out of range (allowed: 1 to {MAX_SUBMISSIONS:,})"
        )
    return value


def _section(path: Path, where: str, raw: Any, allowed: set[str]) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScheduleError(f"{path}: {where}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ScheduleError(
            f"{path}: {where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    return raw


def _development_disclosure(raw: dict[str, Any], path: Path) -> Disclosure:
    """``competition.development_scores`` and ``development_decimals`` as the dev disclosure."""
    view = raw.get("development_scores", DEFAULTS["development_scores"])
    problem = view_problem(view)
    if problem:
        raise ScheduleError(f"{path}: competition.development_scores: {problem}")
    decimals = raw.get("development_decimals", DEFAULTS["development_decimals"])
    problem = decimals_problem(decimals)
    if problem:
        raise ScheduleError(f"{path}: competition.development_decimals: {problem}")
    return Disclosure(view, decimals)


def parse_schedule(raw: Any, path: Path) -> Schedule:
    """Validate the preset's ``competition`` section (absent keys take ``DEFAULTS``)."""
    allowed = {"counted_submission", "development_scores", "development_decimals", *_PHASE_KEYS}
    raw = _section(path, "competition", raw, allowed)
    counted = raw.get("counted_submission", DEFAULTS["counted_submission"])
    if counted not in COUNTED_SUBMISSIONS:
        raise ScheduleError(
            f"{path}: competition.counted_submission: {counted!r} is not one of "
            f"{', '.join(COUNTED_SUBMISSIONS)}"
        )
    disclosure = _development_disclosure(raw, path)
    phases = {}
    for name, allowed in _PHASE_KEYS.items():
        given = _section(path, f"competition.{name}", raw.get(name), allowed)
        phases[name] = {**DEFAULTS[name], **given}
    dev, final = phases["development"], phases["final"]
    schedule = Schedule(
        development_start=parse_instant(path, "competition.development.start", dev["start"]),
        development_end=parse_instant(path, "competition.development.end", dev["end"]),
        final_start=parse_instant(path, "competition.final.start", final["start"]),
        end=parse_instant(path, "competition.final.end", final["end"]),
        max_submissions=_positive_int(
            path, "competition.development.max_submissions", dev["max_submissions"]
        ),
        max_submissions_per_day=_positive_int(
            path,
            "competition.development.max_submissions_per_day",
            dev["max_submissions_per_day"],
        ),
        counted_submission=counted,
        development_disclosure=disclosure,
    )
    if schedule.development_end <= schedule.development_start:
        raise ScheduleError(
            f"{path}: competition.development.end: the Development phase must end after it "
            f"starts ({utc_text(schedule.development_end)} is not after "
            f"{utc_text(schedule.development_start)} UTC)"
        )
    if schedule.final_start - schedule.development_end < MIN_PAUSE:
        raise ScheduleError(
            f"{path}: competition.final.start: the Final phase must start at least "
            f"{MIN_PAUSE.seconds // 60} minutes after the Development phase ends "
            f"({utc_text(schedule.final_start)} vs {utc_text(schedule.development_end)} UTC), "
            "so that the organizer can close Development and migrate submissions in between"
        )
    if schedule.end <= schedule.final_start:
        raise ScheduleError(
            f"{path}: competition.final.end: the Final phase must end after it starts "
            f"({utc_text(schedule.end)} is not after {utc_text(schedule.final_start)} UTC)"
        )
    if schedule.max_submissions_per_day > schedule.max_submissions:
        raise ScheduleError(
            f"{path}: competition.development.max_submissions_per_day: "
            f"{schedule.max_submissions_per_day} is more than max_submissions "
            f"({schedule.max_submissions})"
        )
    return schedule
