"""Leaderboard columns: the scorer's score keys, their titles and how many decimals they need.

Pages and both platforms' competition.yaml render columns from here, and the keys themselves
from the scoring program's own ``score_keys`` (imported from its folder, which stays
standalone), so a column and the score it shows cannot drift apart (DESIGN principle 1).

Columns serve every phase. A Development submission's scores hold only the keys its
disclosure shows (``development_keys``, ``generator.spec.disclosure``), and both platforms take a
scores file that lacks a column's key and leave that cell blank, read in their code:

- CodaLab: apps/web/tasks.py ``update_submission`` creates one ``SubmissionScore`` per line of
  scores.txt and nothing for a column without a line; ``CompetitionPhase.scores`` (apps/web/
  models.py) shows ``"-"`` for a submission without a value and ranks only the ones that have
  one. Its boards and columns are competition-wide: ``CompetitionDefBundle.unpack`` attaches
  every board to every phase (``SubmissionResultGroupPhase`` for ``comp.phases.all()``).
- Codabench: api/views/submissions.py ``upload_submission_scores`` creates a score per key the
  file has; the leaderboard shows ``n/a`` for a missing one (static/riot/competitions/detail/
  leaderboards.tag ``get_score``). Its one leaderboard serves every phase (``BaseUnpacker.
  _save_competition``).

So the dev scorer omits hidden keys, and the columns (the same keys for both phases) keep the
precision the Final phase needs (``score_decimals``): a column's ``numeric_format`` /
``precision`` is display only (CodaLab ``CompetitionPhase.format_value``, Codabench
api/views/competitions.py ``get_leaderboard`` rounds with ``round(score, precision)``) and is
shared by both phases, while a dev score arrives already rounded, so more display decimals
show no more than the scorer wrote.
"""

from __future__ import annotations

import importlib.util
import math
import re
from functools import lru_cache

from micokit.layout import SECRET_PHASES

from ..spec.disclosure import SCORING_DIR, visible_keys
from ..spec.presets import Preset, TaskSpec

# codalab-competitions apps/web/models.py, CompetitionPhase.format_value: numeric_format is the
# number of decimals, clamped to 1..10.
CODALAB_MAX_DECIMALS = 10
# Decimals shown for every score: at least this many, more where TPR at the smallest FPR moves
# in finer steps (see ``score_decimals``).
MIN_DECIMALS = 4
RANKING_TITLE = "Mean TPR@0.1FPR (ranking)"
METRIC_TITLES = {"MIA": "advantage", "eps_lb": "ε lower bound"}


@lru_cache(maxsize=1)
def scorer_module():
    """The scoring program's ``score`` module, imported from its folder (it stays standalone)."""
    # generator.spec.disclosure has put SCORING_DIR on sys.path, so the scorer's own imports resolve.
    spec = importlib.util.spec_from_file_location("mico_score", SCORING_DIR / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_keys(num_scenarios: int) -> list[str]:
    return list(scorer_module().score_keys(num_scenarios))


def scenario_short_labels(task: TaskSpec) -> list[str]:
    """Leaderboard labels: the DP distinguisher's boards are named by dataset, others by ε."""
    if task.disclose_training:
        return [s.id.removesuffix("_ddp") for s in task.scenarios]
    return [s.label for s in task.scenarios]


def ranking_key() -> str:
    """The scorer's ranking key (``average_TPR_FPR_1000``): the last of ``score_keys``."""
    return score_keys(1)[-1]


def ranking_metric() -> str:
    """The per-scenario metric the ranking averages (``TPR_FPR_1000``)."""
    return ranking_key().removeprefix("average_")


def leaderboard_keys(num_scenarios: int) -> list[str]:
    """Every score key, the ranking score first: the column order of both platforms' boards
    (the first is what CodaLab's rank 1 and Codabench's primary_index 0 point at)."""
    keys = score_keys(num_scenarios)
    return [ranking_key()] + [key for key in keys if key != ranking_key()]


def development_keys(preset: Preset, task: TaskSpec) -> list[str]:
    """The columns a Development submission fills, in leaderboard order (the ranking first):
    the preset's disclosure applied to every key. The other columns stay blank until Final."""
    disclosure = preset.schedule.development_disclosure
    return visible_keys(disclosure, leaderboard_keys(len(task.scenarios)))


def split_key(key: str) -> tuple[int, str] | None:
    """``scenario3_AUC`` -> (3, "AUC"); None for the ranking key."""
    match = re.fullmatch(r"scenario(\d+)_(.+)", key)
    return (int(match.group(1)), match.group(2)) if match else None


def metric_title(metric: str) -> str:
    """``TPR_FPR_1000`` -> ``TPR@0.1FPR``; ``MIA`` -> ``advantage``."""
    if metric.startswith("TPR_FPR_"):
        return f"TPR@{int(metric[8:]) / 1e4:g}FPR"
    return METRIC_TITLES.get(metric, metric)


def column_title(key: str, scenario_labels: list[str]) -> str:
    """A column's title on a board shared by all scenarios: scenario label, then metric."""
    parts = split_key(key)
    if parts is None:
        return RANKING_TITLE
    return f"{scenario_labels[parts[0] - 1]} {metric_title(parts[1])}"


def score_decimals(preset: Preset, task: TaskSpec) -> int:
    """Decimals that show every distinct TPR value of the task's scored phases.

    TPR moves in steps of 1/P, P the members of a scenario over all its models of a phase, so
    ceil(log10(P)) decimals separate any two TPRs (TPR@0.001 included); never fewer than
    ``MIN_DECIMALS``, never more than CodaLab shows.
    """
    members = max(preset.models[phase] * s.m for s in task.scenarios for phase in SECRET_PHASES)
    return min(CODALAB_MAX_DECIMALS, max(MIN_DECIMALS, math.ceil(math.log10(members))))
