"""What CodaLab v1.5 and Codabench enforce or do with a competition.yaml, as checks.

Each rule below was read in the platform's own code, not its documentation, and names the file
and function it follows: codalab-competitions ``develop`` (``codalab/apps/web/models.py`` unless
said otherwise) and codabench ``develop`` of 2026-03 (``src/apps/...``). A rule either mirrors an
upload-time refusal (the bundle would not upload) or a run-time behaviour that breaks the
competition (the bundle uploads, and launch day goes wrong). ``checkbundle`` runs these on the
parsed competition.yaml of every bundle; each problem is one line.

The preset is the reference for what the bundle should say (dates, which submission counts,
decimals), so a bundle edited by hand, or built from another preset, is caught too.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..spec.disclosure import parse_disclosure, visible_keys
from ..spec.presets import Preset, TaskSpec
from ..spec.schedule import as_instant, utc_text
from .columns import (
    CODALAB_MAX_DECIMALS,
    ranking_key,
    ranking_metric,
    score_decimals,
    score_keys,
    split_key,
)
from .platforms import (
    CODABENCH_MAX_BOARD_TITLE,
    CODABENCH_MAX_KEY,
    CODABENCH_RULES,
    CODALAB_MAX_NAME,
    FINAL_MAX_SUBMISSIONS,
)

# Competition model fields: CompetitionDefBundle.unpack passes every top-level key except
# html/phases/leaderboard/admin_names to ``Competition(**comp_base)``; any other key raises
# TypeError and the upload fails.
CODALAB_KEYS = {
    "title",
    "description",
    "image",
    "has_registration",
    "html",
    "phases",
    "leaderboard",
    "competition_docker_image",
    "start_date",
    "end_date",
    "admin_names",
    "allow_public_submissions",
    "allow_teams",
    "anonymous_leaderboard",
    "disallow_leaderboard_modifying",
    "enable_detailed_results",
    "enable_forum",
    "enable_per_submission_metadata",
    "force_submission_to_leaderboard",
    "show_datasets_from_yaml",
    "queue",
    "allow_organizer_teams",
    "published",
    "enable_teams",
    "hide_top_three",
    "hide_chart",
    "reward",
    "url_redirect",
}
# CompetitionPhase fields: each phase goes through ``CompetitionPhase.objects.get_or_create
# (**phase_spec)``, so any other key (an ``end_date``, say) is a FieldError at upload.
CODALAB_PHASE_KEYS = {
    "phasenumber",
    "label",
    "description",
    "start_date",
    "max_submissions",
    "max_submissions_per_day",
    "is_scoring_only",
    "scoring_program",
    "reference_data",
    "input_data",
    "starting_kit",
    "public_data",
    "ingestion_program",
    "leaderboard_management_mode",
    "force_best_submission_to_leaderboard",
    "auto_migration",
    "execution_time_limit",
    "color",
    "max_submission_size",
    "participant_max_storage_use",
    "delete_submissions_except_best_and_last",
    "phase_never_ends",
    "default_docker_image",
    "disable_custom_docker_image",
    "scoring_program_docker_image",
    "ingestion_program_docker_image",
    "is_migrated",
    "datasets",
}
# Django's parse_datetime (CompetitionDefBundle.localize_datetime) needs a time of day.
CODALAB_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:\d{1,2}(:\d{1,2}(\.\d+)?)?")
# codabench unpackers/utils.py get_datetime: only a quoted string keeps its time of day, and an
# offset in it is replaced by UTC rather than converted; so: a quoted UTC time without offset.
CODABENCH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")
CODABENCH_REQUIRED = ("title", "image", "terms", "pages", "tasks", "phases", "leaderboards")
# Field lengths: Competition.title max_length=100, CompetitionPhase.label 50 and description
# 1000 (CodaLab); Competition.title 256 and Phase.name 256 (codabench competitions/models.py).
CODALAB_LENGTHS = {"title": 100}
CODALAB_PHASE_LENGTHS = {"label": 50, "description": 1000}
CODABENCH_TITLE = 256


def _mismatch(where: str, what: str, found: dt.datetime | None, expected: dt.datetime) -> list[str]:
    if found == expected:
        return []
    shown = "missing" if found is None else f"{utc_text(found)} UTC"
    return [
        f"{where}: {what} is {shown}, the preset's schedule says {utc_text(expected)} UTC "
        "(the two platforms' bundles must agree)"
    ]


def _too_long(where: str, mapping: dict, limits: dict[str, int], what: str) -> list[str]:
    return [
        f"{where}: {what}{key} is {len(str(mapping[key]))} characters, more than the {limit} "
        "the platform stores"
        for key, limit in limits.items()
        if len(str(mapping.get(key, ""))) > limit
    ]


def _board_label(board: Any) -> str:
    return str(board.get("label", "")).strip() if isinstance(board, dict) else ""


# --------------------------------------------------------------------------- CodaLab v1.5


def codalab_phases(competition: dict) -> list[dict]:
    """Phases in phasenumber order (CompetitionPhase Meta ordering = ['phasenumber'])."""
    phases = competition.get("phases") or {}
    listed = list(phases.values()) if isinstance(phases, dict) else list(phases)
    return sorted(listed, key=lambda phase: phase.get("phasenumber", 0))


def codalab_rules(preset: Preset, task: TaskSpec, competition: dict, where: str) -> list[str]:
    """Every CodaLab rule below, on one parsed competition.yaml."""
    problems: list[str] = []
    unknown = sorted(set(competition) - CODALAB_KEYS)
    if unknown:
        problems.append(f"{where}: CodaLab rejects unknown top-level keys {unknown}")
    problems += _too_long(where, competition, CODALAB_LENGTHS, "")
    phases = codalab_phases(competition)
    if len(phases) != 2:
        return problems + [
            f"{where}: expected a Development and a Final phase, found {len(phases)}"
        ]
    problems += _codalab_phase_keys(phases, where)
    problems += _codalab_dates(preset, competition, phases, where)
    problems += _codalab_final_phase(phases[-1], where)
    problems += _codalab_counted(preset, competition, phases, where)
    problems += _codalab_leaderboard(preset, task, competition, where)
    return problems


def _codalab_phase_keys(phases: list[dict], where: str) -> list[str]:
    problems = []
    for phase in phases:
        problems += _too_long(
            where, phase, CODALAB_PHASE_LENGTHS, f"phase {phase.get('phasenumber')} "
        )
        unknown = sorted(set(phase) - CODALAB_PHASE_KEYS)
        if unknown:
            problems.append(
                f"{where}: phase {phase.get('phasenumber')} has keys CodaLab rejects {unknown}"
            )
        # unpack: "No reference data was supplied with the competition bundle!"; a phase
        # without a scoring program fails every submission ("Program is missing.").
        for key in ("reference_data", "scoring_program"):
            if not phase.get(key):
                problems.append(f"{where}: phase {phase.get('phasenumber')} names no {key}")
    return problems


def _codalab_dates(preset: Preset, competition: dict, phases: list[dict], where: str) -> list[str]:
    """localize_datetime reads the dates; CompetitionPhase.is_active ends a phase at the next
    phase's start and the last one at the competition's end_date."""
    problems = []
    starts = []
    for phase in phases:
        value = phase.get("start_date")
        if isinstance(value, str) and not CODALAB_DATE.fullmatch(value.strip()):
            problems.append(
                f"{where}: phase {phase.get('phasenumber')} start_date {value!r} has no time "
                "of day; CodaLab's parse_datetime fails on it"
            )
        starts.append(as_instant(value))
    if None in starts:
        return problems + [f"{where}: every phase needs a start_date CodaLab can read"]
    if starts != sorted(starts) or len(set(starts)) != len(starts):
        problems.append(f"{where}: phase start dates must increase with the phase number")
    end = as_instant(competition.get("end_date"))
    if end is None:
        problems.append(
            f"{where}: no end_date: the Final phase would never close (Competition.is_active)"
        )
    schedule = preset.schedule
    problems += _mismatch(where, "the Development start", starts[0], schedule.development_start)
    problems += _mismatch(where, "the Final start", starts[-1], schedule.final_start)
    if end is not None:
        problems += _mismatch(where, "end_date", end, schedule.end)
    return problems


def _codalab_final_phase(final: dict, where: str) -> list[str]:
    problems = []
    # Competition.check_future_phase_sumbmissions migrates from the *active* phase into a next
    # phase with auto_migration, every 5 minutes while next.phasenumber > last_phase_migration:
    # that is during the whole Development phase, scoring entries on the final labels early
    # and blocking submissions while it runs (codalab #1306, #2181, #3190).
    if final.get("auto_migration"):
        problems.append(
            f"{where}: the Final phase has auto_migration, which CodaLab runs during the "
            "Development phase; migrate after Development ends (README runbook)"
        )
    # CompetitionPhase.is_blind: hide_results hides the leaderboard, its API, the results CSV
    # and the participants' own scores until the organizer switches the mode back.
    if final.get("leaderboard_management_mode") != "hide_results":
        problems.append(
            f"{where}: the Final phase does not hide its results "
            "(leaderboard_management_mode: hide_results); final scores would show at once"
        )
    if final.get("force_best_submission_to_leaderboard"):
        # utils.push_submission_to_leaderboard_if_best runs PhaseLeaderBoard.objects.get, which
        # in a blind phase may not exist yet: the first submission would be marked failed.
        problems.append(f"{where}: the Final phase forces the best submission; it must not")
    for key in ("max_submissions", "max_submissions_per_day"):
        value = final.get(key)
        if not isinstance(value, int) or value > FINAL_MAX_SUBMISSIONS or value < 0:
            problems.append(
                f"{where}: the Final phase {key} is {value!r}; every final submission is a query "
                f"on the final labels, allow at most {FINAL_MAX_SUBMISSIONS}"
            )
    return problems


def _codalab_counted(
    preset: Preset, competition: dict, phases: list[dict], where: str
) -> list[str]:
    """apps/web/tasks.py update_submission: force_submission_to_leaderboard puts each new
    scored submission on the board in place of the last (latest counts); a phase's
    force_best_submission_to_leaderboard keeps the best instead, and wins over the first."""
    rule = preset.schedule.counted_submission
    forced = bool(competition.get("force_submission_to_leaderboard"))
    best = bool(phases[0].get("force_best_submission_to_leaderboard"))
    found = "best" if best else "latest" if forced else "none (participants choose)"
    if found != rule:
        return [
            f"{where}: the Development leaderboard keeps the {found} submission, the preset's "
            f"rule (competition.counted_submission) is {rule}"
        ]
    return []


def _codalab_leaderboard(
    preset: Preset, task: TaskSpec, competition: dict, where: str
) -> list[str]:
    problems = []
    leaderboard = competition.get("leaderboard") or {}
    boards = leaderboard.get("leaderboards") or {}
    columns = leaderboard.get("columns") or {}
    # unpack: SubmissionResultGroup.get_or_create(key=label.strip(), ...): two boards with
    # one label become one board; each needs a label and a rank.
    labels = [_board_label(board) for board in boards.values()]
    if "" in labels or any("rank" not in board for board in boards.values()):
        problems.append(f"{where}: every leaderboard needs a label and a rank")
    if len(set(labels)) != len(labels):
        problems.append(f"{where}: two leaderboards share a label and would be merged: {labels}")
    decimals = score_decimals(preset, task)
    by_board: dict[str, list[tuple[str, dict]]] = {}
    for key, column in columns.items():
        board = _board_label(column.get("leaderboard"))
        if board not in labels:
            problems.append(f"{where}: column {key} points at no leaderboard")
            continue
        by_board.setdefault(board, []).append((key, column))
        label = str(column.get("label", ""))
        for field, text in (("key", key), ("label", label)):
            if len(text) > CODALAB_MAX_NAME:
                problems.append(
                    f"{where}: column {field} {text!r} is over {CODALAB_MAX_NAME} characters"
                )
        if not label[:1].isalnum():
            problems.append(
                f"{where}: column {key} label {label!r} does not start with a letter or digit"
            )
        if "sorting" in column:  # the bundle key is 'sort'; 'sorting' is ignored
            problems.append(f"{where}: column {key} sets 'sorting', which CodaLab ignores ('sort')")
        numeric = column.get("numeric_format")
        if not isinstance(numeric, int) or not decimals <= numeric <= CODALAB_MAX_DECIMALS:
            problems.append(
                f"{where}: column {key} shows {numeric!r} decimals; TPR@0.001 needs {decimals} "
                f"(CompetitionPhase.format_value, default 2, at most {CODALAB_MAX_DECIMALS})"
            )
    problems += _codalab_ranks(columns, where)
    problems += _codalab_selection(by_board, where)
    return problems


def _codalab_ranks(columns: dict, where: str) -> list[str]:
    """CompetitionSubmission.get_default_score_def: the column with the lowest rank is what
    force-best compares and what a participant's submission list shows as its score."""
    # unpack: ordering = rank if given, else the column's 1-based position in the mapping.
    ranks = {
        key: column.get("rank", position)
        for position, (key, column) in enumerate(columns.items(), start=1)
    }
    if not ranks:
        return [f"{where}: no leaderboard columns"]
    problems = []
    lowest = min(ranks.values())
    first = sorted(key for key, rank in ranks.items() if rank == lowest)
    if first != [ranking_key()]:
        problems.append(
            f"{where}: the lowest column rank ({lowest}) must belong to {ranking_key()} alone, "
            f"not {first}: CodaLab compares and shows that column as the score"
        )
    if sorted(ranks.values()) != list(range(1, len(ranks) + 1)):
        problems.append(f"{where}: column ranks are not 1..{len(ranks)}, each once")
    return problems


def _codalab_selection(by_board: dict[str, list[tuple[str, dict]]], where: str) -> list[str]:
    """CompetitionPhase.scores sorts each board by its column with the strictly highest
    selection_default; on a tie the first column created wins (YAML order: TPR@0.001 on a
    scenario board)."""
    problems = []
    for board, columns in by_board.items():
        values = [(key, column.get("selection_default", 0)) for key, column in columns]
        top = max(value for _, value in values)
        tied = [key for key, value in values if value == top]
        parts = split_key(tied[0])
        wanted = ranking_key() if parts is None else f"scenario{parts[0]}_{ranking_metric()}"
        if tied != [wanted]:
            tie = f" ({len(tied)} columns tie; CodaLab takes the first)" if len(tied) > 1 else ""
            problems.append(
                f"{where}: leaderboard {board!r} would sort by {tied[0]}{tie}, not by {wanted} "
                "(set selection_default on that column alone)"
            )
    return problems


# --------------------------------------------------------------------------- Codabench


def _codabench_date(value: Any, what: str, where: str) -> tuple[dt.datetime | None, list[str]]:
    if value is None:
        return None, []
    if not isinstance(value, str):
        return None, [
            f"{where}: {what} is an unquoted YAML date; Codabench's get_datetime drops its time "
            "of day (codabench #1399): write it as a quoted 'YYYY-MM-DD HH:MM:SS' string (UTC)"
        ]
    if not CODABENCH_DATE.fullmatch(value.strip()):
        return None, [
            f"{where}: {what} {value!r} is not a quoted UTC 'YYYY-MM-DD HH:MM:SS' (Codabench "
            "replaces an offset by UTC and a missing time by midnight)"
        ]
    return as_instant(value), []


def codabench_phases(competition: dict) -> list[dict]:
    """v2.py _unpack_phases sorts the phases by index and renumbers them."""
    return sorted(competition.get("phases") or [], key=lambda phase: phase.get("index", 0))


def codabench_rules(preset: Preset, task: TaskSpec, competition: dict, where: str) -> list[str]:
    """Every Codabench rule below, on one parsed competition.yaml."""
    # competitions/tasks.py unpack_competition: str(version) selects the unpacker; '2' only.
    if str(competition.get("version")) != "2":
        return [f"{where}: version must be 2 (Codabench reads str(version) == '2')"]
    missing = [key for key in CODABENCH_REQUIRED if not competition.get(key)]
    if missing:
        return [f"{where}: Codabench needs top-level {missing}"]
    problems: list[str] = _too_long(where, competition, {"title": CODABENCH_TITLE}, "")
    # unpackers/v2.py: enable_detailed_results defaults to false, and then the worker is never
    # given a URL for detailed_results.html (competitions/tasks.py _send_to_compute_worker).
    if competition.get("enable_detailed_results") is not True:
        problems.append(
            f"{where}: enable_detailed_results is not true; Codabench then shows no detailed results"
        )
    phases = codabench_phases(competition)
    if len(phases) != 2:
        return problems + [
            f"{where}: expected a Development and a Final phase, found {len(phases)}"
        ]
    problems += _codabench_dates(preset, phases, where)
    problems += _codabench_final_phase(competition, phases, where)
    problems += _codabench_leaderboard(preset, task, competition, where)
    return problems


def _codabench_dates(preset: Preset, phases: list[dict], where: str) -> list[str]:
    """base_unpacker.py _validate_phase_ordering: every phase but the last needs an end, and
    the next phase must start strictly after it ('Phases dates conflict' when equal)."""
    problems: list[str] = []
    spans = []
    for phase in phases:
        name = phase.get("name", phase.get("index"))
        start, found = _codabench_date(phase.get("start"), f"phase {name} start", where)
        end, found_end = _codabench_date(phase.get("end"), f"phase {name} end", where)
        problems += found + found_end
        if phase.get("start") is None:
            problems.append(f"{where}: phase {name} has no start")
        if start and end and end <= start:
            problems.append(f"{where}: phase {name} ends before it starts")
        spans.append((name, start, end))
    if problems:
        return problems
    for (name, _, end), (next_name, start, _) in zip(spans, spans[1:], strict=False):
        if end is None:
            problems.append(f"{where}: phase {name} must have an end because a phase follows it")
        elif start == end:
            problems.append(
                f"{where}: Phases dates conflict: phase {next_name} starts when phase {name} "
                "ends; Codabench wants it to start strictly after"
            )
        elif start < end:
            problems.append(f"{where}: phase {next_name} starts before phase {name} has ended")
    schedule = preset.schedule
    (_, dev_start, dev_end), (_, final_start, final_end) = spans
    problems += _mismatch(where, "the Development start", dev_start, schedule.development_start)
    problems += _mismatch(where, "the Development end", dev_end, schedule.development_end)
    problems += _mismatch(where, "the Final start", final_start, schedule.final_start)
    problems += _mismatch(where, "the Final end", final_end, schedule.end)
    return problems


def _codabench_final_phase(competition: dict, phases: list[dict], where: str) -> list[str]:
    """competitions/tasks.py do_phase_migrations and Competition.apply_phase_migration."""
    problems = []
    development, final = phases
    if development.get("auto_migrate_to_this_phase"):
        # Phase.check_future_phase_submissions looks up index - 1 outside its try: it raises
        # in the periodic task.
        problems.append(f"{where}: the first phase must not set auto_migrate_to_this_phase")
    if final.get("auto_migrate_to_this_phase") is not True:
        problems.append(
            f"{where}: the Final phase does not set auto_migrate_to_this_phase; nothing would be "
            "scored on the final labels"
        )
    tasks = {t.get("index"): t for t in competition.get("tasks") or []}
    final_tasks, dev_tasks = final.get("tasks") or [], development.get("tasks") or []
    # Only single-task phases migrate: a multi-task parent has no leaderboard, and
    # apply_phase_migration copies leaderboard submissions only (codabench #2247).
    if len(final_tasks) != 1 or len(dev_tasks) != 1:
        problems.append(f"{where}: each phase must have exactly one task, or nothing migrates")
    elif final_tasks == dev_tasks or (
        tasks.get(final_tasks[0], {}).get("reference_data")
        == tasks.get(dev_tasks[0], {}).get("reference_data")
    ):
        problems.append(
            f"{where}: the Final phase's task scores with the Development reference data"
        )
    # api/serializers/submissions.py: hide_output hides logs and output files of the phase.
    if final.get("hide_output") is not True:
        problems.append(f"{where}: the Final phase does not set hide_output")
    # Phase.can_user_make_submissions: a limit of 0 or none means no limit at all.
    for key in ("max_submissions", "max_submissions_per_day"):
        value = final.get(key)
        if not isinstance(value, int) or not 1 <= value <= FINAL_MAX_SUBMISSIONS:
            problems.append(
                f"{where}: the Final phase {key} is {value!r}; allow at most "
                f"{FINAL_MAX_SUBMISSIONS} (0 or none means unlimited on Codabench)"
            )
    return problems


def _codabench_leaderboard(
    preset: Preset, task: TaskSpec, competition: dict, where: str
) -> list[str]:
    problems = []
    boards = competition.get("leaderboards") or []
    # base_unpacker.py _save_competition attaches leaderboards[0] to every phase.
    if len(boards) != 1:
        return [
            f"{where}: expected one leaderboard (Codabench uses only the first), found {len(boards)}"
        ]
    board = boards[0]
    for field, limit in (("key", CODABENCH_MAX_KEY), ("title", CODABENCH_MAX_BOARD_TITLE)):
        if not board.get(field) or len(str(board[field])) > limit:
            problems.append(f"{where}: leaderboard {field} must be 1 to {limit} characters")
    # leaderboards/strategies.py: Force_Last keeps the latest scored submission on the board,
    # Force_Best the best by the primary column; migration copies what is on the board.
    rule = preset.schedule.counted_submission
    if board.get("submission_rule") != CODABENCH_RULES[rule]:
        problems.append(
            f"{where}: submission_rule is {board.get('submission_rule', 'Add (the default)')!r}; "
            f"the preset's rule '{rule}' needs {CODABENCH_RULES[rule]!r}"
        )
    columns = board.get("columns") or []
    indexes = [column.get("index") for column in columns]
    keys = [column.get("key") for column in columns]
    # api/serializers/leaderboards.py LeaderboardSerializer.validate_columns.
    if len(set(indexes)) != len(indexes) or len(set(keys)) != len(keys):
        problems.append(f"{where}: column indexes and keys must be unique")
    decimals = score_decimals(preset, task)
    for column in columns:
        for field in ("key", "title"):
            if len(str(column.get(field, ""))) > CODABENCH_MAX_KEY:
                problems.append(
                    f"{where}: column {field} {column.get(field)!r} is over "
                    f"{CODABENCH_MAX_KEY} characters"
                )
        precision = column.get("precision", 2)  # Column.precision default=2
        if not isinstance(precision, int) or precision < decimals:
            problems.append(
                f"{where}: column {column.get('key')} shows {precision!r} decimals; "
                f"TPR@0.001 needs {decimals}"
            )
    # LeaderboardPhaseSerializer.get_submissions ranks by the column whose index is
    # primary_index (default 0).
    primary = board.get("primary_index", 0)
    ranked = [column.get("key") for column in columns if column.get("index") == primary]
    if ranked != [ranking_key()]:
        problems.append(
            f"{where}: the leaderboard ranks by {ranked or 'no column'} (primary_index "
            f"{primary}), not by {ranking_key()}"
        )
    return problems


# --- what a scored phase shows -----------------------------------------------------------------
# Both platforms hand the submitter everything the scoring program writes: CodaLab serves the
# scoring output.zip and stdout.txt (apps/web/models.py CompetitionSubmission.
# get_file_for_download), Codabench the scoring output, logs and detailed results
# (api/serializers/submissions.py get_scoring_result, get_logs, get_detailed_result). The dev
# reference manifest's ``disclosure`` is therefore the only place the leak budget holds, and a
# dev score without a column's key is a blank cell on both (see ``generator.publish.columns``).


def _describe(disclosure: Any) -> str:
    if disclosure is None:
        return "every score at full precision"
    if isinstance(disclosure, dict):
        return f"{disclosure.get('scores')!r} at {disclosure.get('decimals')!r} decimals"
    return repr(disclosure)


def reference_disclosure_rules(preset: Preset, manifest: dict, where: str) -> list[str]:
    """The dev reference data carry the preset's disclosure; the final reference carries none
    (the Final phase ranks and shows every score at full precision)."""
    phase = manifest.get("phase")
    found = manifest.get("disclosure")
    expected = preset.schedule.manifest_disclosure(phase)
    if found == expected:
        return []
    return [
        f"{where}: the {phase} reference data show {_describe(found)}; the preset's "
        f"competition.development_scores/development_decimals need {_describe(expected)}"
    ]


def scored_output_rules(
    manifest: dict,
    task: TaskSpec,
    columns: list[str],
    txt: dict,
    stdout: str,
    page: str,
    where: str,
) -> list[str]:
    """What one scored submission wrote agrees with its phase's disclosure and the columns.

    The keys of scores.txt are exactly the ones the manifest's disclosure shows (all of them
    without one) and each has a column; without a disclosure every column has a score. With
    one, each value is rounded to its decimals, the log prints no other score key and the
    detailed page draws no ROC curve and names no other score key.
    """
    disclosure, problems = parse_disclosure(manifest.get("disclosure"), where)
    if problems:
        return problems
    every = score_keys(len(task.scenarios))
    shown = visible_keys(disclosure, every)
    if set(txt) != set(shown):
        extra, missing = sorted(set(txt) - set(shown)), sorted(set(shown) - set(txt))
        problems.append(f"{where}: scores.txt shows {extra} beyond its phase, lacks {missing}")
    unused = sorted(set(txt) - set(columns))
    if unused:
        problems.append(f"{where}: scores without columns {unused}")
    if disclosure is None:
        missing = sorted(set(columns) - set(txt))
        if missing:
            problems.append(f"{where}: columns without scores {missing}")
        return problems
    unrounded = sorted(k for k, v in txt.items() if v != round(v, disclosure.decimals))
    if unrounded:
        problems.append(f"{where}: {unrounded} have more than {disclosure.decimals} decimals")
    hidden = [key for key in every if key not in shown]
    for name, text in (("the scoring log", stdout), ("detailed_results.html", page)):
        leaked = [key for key in hidden if re.search(rf"\b{re.escape(key)}\b", text)]
        if leaked:
            problems.append(f"{where}: {name} shows hidden scores {leaked[:3]}")
    if "<svg" in page:
        problems.append(f"{where}: detailed_results.html draws ROC curves in a restricted phase")
    return problems
