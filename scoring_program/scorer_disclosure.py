"""What a phase shows participants of their scores: the Development "leak budget".

Everything the scorer writes reaches the submitter on both platforms: CodaLab serves the
scoring ``output.zip`` (scores.txt, detailed_results.html) and ``stdout.txt`` to the submitter
(codalab-competitions apps/web/models.py, ``CompetitionSubmission.get_file_for_download``),
Codabench the scoring output, logs and detailed results (codabench apps/api/serializers/
submissions.py, ``get_scoring_result``, ``get_logs``, ``get_detailed_result``), and its API
returns the scores at full precision. So the scorer itself must decide what a Development
submission may reveal about the hidden dev labels: benchmarks/bench_leak.py recovered all 1,200
demo dev labels in 36 submissions from the full output, and showing only the overall ranking
score at 2 decimals raised that beyond 300 submissions (at least 174 for any attacker).

The reference manifest of a restricted phase carries ``"disclosure": {"scores": VIEW,
"decimals": N}`` (docs/layouts.md); a manifest without it (the Final phase) gets the full
output. This module is the single definition of the views and their limits: the generator
imports it from this folder (generator/spec/disclosure.py) to validate the preset and to write the
manifest, and score.py sends scores.txt, scores.json, its printed scores and the detailed page
through :func:`disclose` and :func:`restricted_html`. Python 3.7 syntax; it needs only the
scorer's own ``scorer_metrics``.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import dataclass

import scorer_metrics as metrics

SCORE_VIEWS = ("overall", "scenarios", "all")
"""``overall``: only the ranking score (mean TPR@0.1 over scenarios); ``scenarios``: that plus
each scenario's TPR@0.1; ``all``: every score key."""
DEFAULT_VIEW = "overall"
MIN_DECIMALS = 1
MAX_DECIMALS = 6
DEFAULT_DECIMALS = 2
KEYS = ("scores", "decimals")
"""The keys of the manifest's ``disclosure`` object, both required."""

RANKING_METRIC = f"TPR_FPR_{metrics.alpha_key(metrics.RANKING_ALPHA)}"
"""The per-scenario metric the ranking averages (``TPR_FPR_1000``)."""
RANKING_KEY = "average_" + RANKING_METRIC
"""The ranking score's key, the one score every view shows; scorer_report writes it."""


@dataclass(frozen=True)
class Disclosure:
    """A restricted phase's view: which score keys are shown, rounded to how many decimals."""

    scores: str = DEFAULT_VIEW
    decimals: int = DEFAULT_DECIMALS

    def describe(self) -> str:
        """What participants see, as one phrase for pages and the detailed results."""
        what = {
            "overall": "only the overall ranking score",
            "scenarios": "only the overall ranking score and each scenario's TPR@0.1",
            "all": "every score",
        }[self.scores]
        unit = "decimal" if self.decimals == 1 else "decimals"
        return f"{what}, rounded to {self.decimals} {unit}"

    def as_manifest(self) -> dict:
        """The manifest's ``disclosure`` object."""
        return {"scores": self.scores, "decimals": self.decimals}


def view_problem(value: object) -> str | None:
    """Why ``value`` is not a view name, or None."""
    if isinstance(value, str) and value in SCORE_VIEWS:
        return None
    return f"{_shown(value)} is not one of {', '.join(SCORE_VIEWS)}"


def decimals_problem(value: object) -> str | None:
    """Why ``value`` is not an allowed number of decimals, or None."""
    if not isinstance(value, bool) and isinstance(value, int):
        if MIN_DECIMALS <= value <= MAX_DECIMALS:
            return None
    return f"{_shown(value)} is not a whole number from {MIN_DECIMALS} to {MAX_DECIMALS}"


def _shown(value: object) -> str:
    """A short rendering of a rejected value (a manifest or preset value, never a label)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_disclosure(raw: object, where: str) -> tuple[Disclosure | None, list[str]]:
    """The manifest's ``disclosure`` value as a Disclosure (None: absent, full output), and the
    problem found: at most one line, starting with ``where`` (the first problem, so that a
    broken disclosure is one line of the scorer's message)."""
    if raw is None:
        return None, []
    if not isinstance(raw, dict):
        return None, [f"{where}: 'disclosure' must be an object with {' and '.join(KEYS)}"]
    problems = []
    unknown = sorted(str(key) for key in raw if key not in KEYS)
    if unknown:
        problems.append(
            f"{where}: disclosure has unknown key {_shown(unknown[0])} (allowed: {', '.join(KEYS)})"
        )
    missing = [key for key in KEYS if key not in raw]
    if missing:
        problems.append(f"{where}: disclosure has no {missing[0]!r}")
    for key, check in (("scores", view_problem), ("decimals", decimals_problem)):
        problem = check(raw[key]) if key in raw else None
        if problem:
            problems.append(f"{where}: disclosure {key} {problem}")
    if problems:
        return None, problems[:1]
    return Disclosure(raw["scores"], raw["decimals"]), []


def visible_keys(disclosure: Disclosure | None, keys: list[str]) -> list[str]:
    """The score keys a phase shows, in ``keys`` order (``keys``: every key the scorer computes,
    as ``scorer_report.score_keys`` lists them)."""
    if disclosure is None or disclosure.scores == "all":
        return list(keys)
    if disclosure.scores == "overall":
        return [key for key in keys if key == RANKING_KEY]
    suffix = "_" + RANKING_METRIC
    return [
        key
        for key in keys
        if key == RANKING_KEY or (key.startswith("scenario") and key.endswith(suffix))
    ]


def disclose(scores: dict[str, float], disclosure: Disclosure | None) -> dict[str, float]:
    """The scores a phase shows: the visible keys only, each rounded to the phase's decimals.

    Without a disclosure (the Final phase) the scores are returned unchanged. Rounding uses
    Python's ``round``, so the written value is the shortest repr of the rounded number
    (``0.12``), the same in scores.txt, scores.json and the printed log.
    """
    if disclosure is None:
        return OrderedDict(scores)
    shown: dict[str, float] = OrderedDict()
    for key in visible_keys(disclosure, list(scores)):
        shown[key] = float(round(scores[key], disclosure.decimals))
    return shown


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; }
"""


def restricted_html(task: str, phase: str, shown: dict[str, float], disclosure: Disclosure) -> str:
    """The detailed-results page of a restricted phase: the shown numbers and why, nothing else
    (no ROC plots, no metric the scores files do not hold, no more decimals than they have)."""
    title = html.escape(f"Detailed results: task {task}, phase {phase}")
    rows = "\n".join(
        f'<tr><td class="name"><code>{html.escape(key)}</code></td>'
        f"<td>{value:.{disclosure.decimals}f}</td></tr>"
        for key, value in shown.items()
    )
    reason = (
        f"This phase shows {html.escape(disclosure.describe())}. The detailed results, the scoring logs and the output files "
        "show nothing more. Every number shown about a submission is a question answered "
        "about the hidden membership labels of the challenge points: with every score at full "
        "precision, an adaptive participant recovered all 1,200 labels of the demo's "
        "development phase in 36 submissions (benchmarks/bench_leak.py). The Final phase "
        "shows every score, the per-scenario tables and the ROC curves."
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{title}</h1>\n<table>\n<tr><th>score</th><th>value</th></tr>\n{rows}\n"
        f"</table>\n<p>{reason}</p>\n</body>\n</html>\n"
    )
