"""competition.yaml for CodaLab v1.5 and for Codabench, rendered from one preset (principle 1).

The schedule and the counted-submission rule come from ``preset.schedule``
(``generator.spec.schedule``), the leaderboard columns from the scoring program's ``score_keys``, and
the platform limits below from the platforms' own code, cited next to each. ``checkbundle``
checks uploaded-bundle conformance against the same limits, so the renderer and the checker
cannot disagree on what a platform accepts.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..paths import CODABENCH_TEMPLATE, CODALAB_TEMPLATE
from ..spec.presets import Preset, TaskSpec
from ..spec.schedule import utc_text
from .columns import (
    RANKING_TITLE,
    column_title,
    leaderboard_keys,
    metric_title,
    ranking_metric,
    scenario_short_labels,
    score_decimals,
    split_key,
)

# codalab-competitions apps/web/models.py, SubmissionScoreDef / SubmissionResultGroup:
# ``key`` and ``label`` are CharField(max_length=50).
CODALAB_MAX_NAME = 50
# codabench src/apps/leaderboards/models.py: Column.key/title and Leaderboard.key are
# CharField(max_length=36), Leaderboard.title max_length=64.
CODABENCH_MAX_KEY = 36
CODABENCH_MAX_BOARD_TITLE = 64
# codabench src/apps/leaderboards/models.py, Leaderboard.SUBMISSION_RULES, applied after each
# scoring by leaderboards/strategies.py: Force_Last keeps each participant's latest scored
# submission on the board, Force_Best the best by the primary column.
CODABENCH_RULES = {"latest": "Force_Last", "best": "Force_Best"}
# Every submission the Final phase scores is a query against the final labels. Migrated
# submissions count against this limit on both platforms (CodaLab CompetitionSubmission.save
# counts every non-failed submission of the phase; Codabench Phase.can_user_make_submissions),
# so a participant whose Development submission was migrated can add none.
FINAL_MAX_SUBMISSIONS = 1


def _load_template(path: Path, preset: Preset, task: TaskSpec) -> dict[str, Any]:
    """The platform's template with the preset's title and description set as YAML values.

    They are set in the loaded mapping and written by the YAML emitter, never pasted into the
    template's text: pasted into a double-quoted scalar, ``\\epsilon`` became an escape
    character, and ``\\x`` or a trailing backslash broke the file.
    """
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(competition_texts(preset, task))
    return data


def _yaml_text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def competition_texts(preset: Preset, task: TaskSpec) -> dict[str, str]:
    """The competition's title and description, exactly as both platforms get them."""
    title = f"{preset.title} — {task.title}"
    return {"title": title, "description": task.description or title}


def _phases_by_label(phases: Any, key: str) -> dict[str, dict[str, Any]]:
    return {
        phase[key]: phase for phase in (phases.values() if isinstance(phases, dict) else phases)
    }


def render_codalab_yaml(preset: Preset, task: TaskSpec) -> str:
    """competition.yaml for CodaLab v1.5: a ranking board plus one board per scenario.

    Which column counts, and how CodaLab reads each field (codalab-competitions
    apps/web/models.py, ``CompetitionDefBundle.unpack`` and the functions named):

    - ``rank`` becomes the column's ``ordering``; the column with the lowest one is what
      force-best compares, and the "Score" of a participant's submission list
      (``CompetitionSubmission.get_default_score_def``). Only the ranking column has rank 1.
    - A board's rows are sorted by its column with the highest ``selection_default``
      (``CompetitionPhase.scores``): the ranking column, and each scenario's TPR@0.1.
    - Latest counts: ``force_submission_to_leaderboard`` puts every scored submission on the
      board in place of the previous one (apps/web/tasks.py ``update_submission``); best counts:
      the phase's ``force_best_submission_to_leaderboard`` instead.
    - The Final phase has no ``auto_migration``: CodaLab would copy Development entries to it,
      and score them on the final labels, during the whole Development phase
      (``Competition.check_future_phase_sumbmissions``). It hides its results
      (``leaderboard_management_mode: hide_results``) until the organizer reveals them.
    """
    data = _load_template(CODALAB_TEMPLATE, preset, task)
    schedule = preset.schedule
    best = schedule.counted_submission == "best"
    data["start_date"] = utc_text(schedule.development_start)
    data["end_date"] = utc_text(schedule.end)
    data["force_submission_to_leaderboard"] = not best
    phases = _phases_by_label(data["phases"], "label")
    development, final = phases["Development"], phases["Final"]
    development.update(
        start_date=utc_text(schedule.development_start),
        max_submissions=schedule.max_submissions,
        max_submissions_per_day=schedule.max_submissions_per_day,
        force_best_submission_to_leaderboard=best,
    )
    final.update(
        start_date=utc_text(schedule.final_start),
        max_submissions=FINAL_MAX_SUBMISSIONS,
        max_submissions_per_day=FINAL_MAX_SUBMISSIONS,
        force_best_submission_to_leaderboard=False,
        auto_migration=False,
        leaderboard_management_mode="hide_results",
    )
    labels = scenario_short_labels(task)
    decimals = score_decimals(preset, task)
    boards: dict[str, Any] = {"Results_rank": {"label": "Ranking (mean TPR@0.1FPR)", "rank": 1}}
    for k, label in enumerate(labels, start=1):
        boards[f"Results_{k}"] = {"label": label, "rank": k + 1}
    columns: dict[str, Any] = {}
    for rank, key in enumerate(leaderboard_keys(len(task.scenarios)), start=1):
        parts = split_key(key)
        board = "Results_rank" if parts is None else f"Results_{parts[0]}"
        column = {
            "leaderboard": boards[board],  # the same object: YAML anchors, as CodaLab expects
            "label": RANKING_TITLE if parts is None else metric_title(parts[1]),
            "numeric_format": decimals,
            "rank": rank,
        }
        if parts is None or parts[1] == ranking_metric():
            column["selection_default"] = 1
        columns[key] = column
    data["leaderboard"] = {"leaderboards": boards, "columns": columns}
    return _yaml_text(data)


def render_codabench_yaml(preset: Preset, task: TaskSpec) -> str:
    """competition.yaml for Codabench (version 2): one leaderboard, ranking score first.

    Codabench attaches only the first leaderboard to every phase (``BaseUnpacker.
    _save_competition``) and ranks by the column whose ``index`` is ``primary_index``
    (``LeaderboardPhaseSerializer.get_submissions``); ``precision`` defaults to 2 decimals and
    ``enable_detailed_results`` to false (``unpackers/v2.py``), so both are set here.
    """
    data = _load_template(CODABENCH_TEMPLATE, preset, task)
    schedule = preset.schedule
    phases = _phases_by_label(data["phases"], "name")
    phases["Development"].update(
        start=utc_text(schedule.development_start),
        end=utc_text(schedule.development_end),
        max_submissions=schedule.max_submissions,
        max_submissions_per_day=schedule.max_submissions_per_day,
    )
    phases["Final"].update(
        start=utc_text(schedule.final_start),
        end=utc_text(schedule.end),
        max_submissions=FINAL_MAX_SUBMISSIONS,
        max_submissions_per_day=FINAL_MAX_SUBMISSIONS,
    )
    labels = scenario_short_labels(task)
    decimals = score_decimals(preset, task)
    board = copy.deepcopy(data["leaderboards"][0])
    board["submission_rule"] = CODABENCH_RULES[schedule.counted_submission]
    board["primary_index"] = 0
    board["columns"] = [
        {
            "title": column_title(key, labels)[:CODABENCH_MAX_KEY],
            "key": key,
            "index": i,
            "sorting": "desc",
            "precision": decimals,
        }
        for i, key in enumerate(leaderboard_keys(len(task.scenarios)))
    ]
    data["leaderboards"] = [board]
    return _yaml_text(data)
