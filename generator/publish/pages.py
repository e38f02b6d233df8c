"""Render the competition pages from the preset (DESIGN principle 1).

Tables of scenarios, ε, model counts, phase dates and leaderboard columns, and the rule of which
submission counts, are generated here from the preset and from the scoring program's own
``score_keys``; the Markdown templates in ``pages/`` hold only prose and ``{{placeholders}}``. A
placeholder without a value is an error, never blank text. competition.yaml for each platform
is rendered by ``generator.publish.platforms``.
"""

from __future__ import annotations

import html
import re

import markdown
from micokit.layout import PHASES

from ..paths import PAGES_DIR
from ..spec.presets import Preset, ScenarioSpec, TaskSpec
from ..spec.schedule import Schedule, utc_text
from .columns import column_title, development_keys, scenario_short_labels, score_keys

PAGE_NAMES = ("overview", "evaluation", "data", "terms")
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def fill(template: str, values: dict[str, str], source: str) -> str:
    """Replace ``{{name}}`` placeholders; an unknown name is an organizer error."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{source}: no value for placeholder {{{{{name}}}}}")
        return values[name]

    return PLACEHOLDER.sub(replace, template)


# --------------------------------------------------------------------------- preset text
# Titles, descriptions, labels and dataset names come from the organizer's preset and are shown
# as plain text. Pasted into Markdown, `<script>` would reach the HTML pages as a tag, `*`, `_`
# and `|` would turn into emphasis or split a table cell, and `$...$` would become a formula on
# Codabench, which renders pages with KaTeX before Markdown (codabench
# src/static/js/ours/latex_markdown_html.js, ``renderMarkdownWithLatex``: the `$` pattern is
# replaced before ``marked`` runs, so a backslash does not protect it). Every such character is
# written as a numeric character reference, which Python-Markdown (CodaLab's HTML pages, built
# here) and marked 3.0.7 (the version codabench's src/templates/base.html loads; checked) both
# pass through unchanged and every browser shows as the character itself.
_MARKDOWN_SPECIAL = set("\\`*_[]<>&$|~#!")
# Block syntax counts only at the start of a line: a list (`-`, `+`, `1.`, `1)`), a heading
# underline (`=`).
_BLOCK_START = re.compile(r"[-+=]|\d+[.)]")


def _reference(char: str) -> str:
    return f"&#{ord(char)};"


def markdown_text(text: str) -> str:
    """Preset text as Markdown that renders exactly as the text, on one line.

    Runs of white space (line breaks of a description included) become one space, as HTML shows
    them anyway; a page never gets a heading, list, table cell, tag or formula from a preset.
    """
    flat = " ".join(text.split())
    out = "".join(_reference(c) if c in _MARKDOWN_SPECIAL else c for c in flat)
    block = _BLOCK_START.match(out)
    if block:
        end = block.end() - 1
        out = out[:end] + _reference(out[end]) + out[end + 1 :]
    return out


# --------------------------------------------------------------------------- tables


def _epsilon(scenario: ScenarioSpec) -> str:
    return "∞" if scenario.epsilon is None else f"{scenario.epsilon:g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def page_values(preset: Preset, task: TaskSpec) -> dict[str, str]:
    scenario_rows = [
        [
            f"{k}",
            f"`{s.id}`",
            markdown_text(s.label),
            _epsilon(s),
            "–" if s.epsilon is None else f"{s.delta:g}",
            markdown_text(s.dataset_name),
            s.model["arch"],
            str(s.n),
            str(2 * s.m),
        ]
        for k, s in enumerate(task.scenarios, start=1)
    ]
    schedule = preset.schedule
    phase_rows = [
        [
            "Development",
            "dev",
            f"{utc_text(schedule.development_start)} UTC",
            f"{utc_text(schedule.development_end)} UTC",
            f"scores on `dev` models shown live ({schedule.development_disclosure.describe()}); "
            f"at most {schedule.max_submissions} submissions, "
            f"{schedule.max_submissions_per_day} per day (UTC)",
        ],
        [
            "Final",
            "final",
            f"{utc_text(schedule.final_start)} UTC",
            f"{utc_text(schedule.end)} UTC",
            "your counted development submission is scored on `final` models",
        ],
    ]
    keys = score_keys(len(task.scenarios))
    labels = scenario_short_labels(task)
    shown = set(development_keys(preset, task))
    column_rows = [
        [f"`{key}`", markdown_text(column_title(key, labels)), "yes" if key in shown else "–"]
        for key in keys
    ]
    size_rows = [[f"`{s.id}`", str(s.n), str(s.m), str(s.m)] for s in task.scenarios]
    model_rows = [[f"`{s.id}`"] + [str(preset.models[p]) for p in PHASES] for s in task.scenarios]
    ddp = task.disclose_training
    return {
        "title": markdown_text(preset.title),
        "task_id": task.id,
        "task_title": markdown_text(task.title),
        "task_description": markdown_text(task.description),
        "scenario_table": _table(
            [
                "#",
                "scenario",
                "label",
                "ε",
                "δ",
                "dataset",
                "model",
                "n (training set)",
                "challenge points per model",
            ],
            scenario_rows,
        ),
        "phase_table": _table(
            ["phase", "models scored", "starts", "ends", "what happens"], phase_rows
        ),
        "counted_rule": counted_rule(schedule),
        "column_table": _table(["key", "column", "shown in Development"], column_rows),
        "development_disclosure": development_disclosure(schedule),
        "size_table": _table(
            ["scenario", "n (training set)", "members per model", "non-members per model"],
            size_rows,
        ),
        "model_table": _table(["scenario", *PHASES], model_rows),
        "ddp_sentence": (
            " and, since this is the DP distinguisher, the rest of the training set: "
            "`nonchallenge_training_indices.csv` and `seed_training`"
            if ddp
            else ""
        ),
        "ddp_files": ", nonchallenge_training_indices.csv, seed_training" if ddp else "",
        "data_line": "  data/<dataset>/                     the dataset (features.npy + labels.npy, or dataset.tsv)\n"
        if preset.publish_data
        else "",
    }


def development_disclosure(schedule: Schedule) -> str:
    """What a Development submission shows, and why, from the preset's disclosure."""
    disclosure = schedule.development_disclosure
    return (
        f"A development submission shows {disclosure.describe()}: its scores file, the "
        "leaderboard, the scoring log, the output files and the detailed-results page show "
        "nothing more (no other metric, no ROC curves); the leaderboard columns it does not "
        "fill stay blank. The final phase shows every score at full precision, with the "
        "per-scenario tables and ROC curves. The reason: every number shown about a submission "
        "answers a question about the hidden `dev` labels, and with every score at full "
        "precision an adaptive participant recovered all 1,200 `dev` labels of the demo "
        "competition in 36 submissions (`benchmarks/bench_leak.py` in the competition's "
        "repository), which would turn the `dev` models into extra labelled shadow models."
    )


def counted_rule(schedule: Schedule) -> str:
    """Which submission counts, in the participants' words, from the preset's rule."""
    if schedule.counted_submission == "latest":
        return (
            "Only your **latest** successfully scored development submission counts (MICO's "
            "rule): each new one replaces the previous on the leaderboard, even when it scores "
            "lower, and the last one before the development phase ends is the one scored on the "
            "`final` models. A submission that fails validation replaces nothing."
        )
    return (
        "Your **best** development submission counts: the leaderboard keeps the one with the "
        "highest ranking score on `dev` (the newer one on a tie), and that one is scored on the "
        "`final` models. A submission that fails validation replaces nothing."
    )


def render_markdown_pages(preset: Preset, task: TaskSpec) -> dict[str, str]:
    values = page_values(preset, task)
    pages = {}
    for name in PAGE_NAMES:
        source = PAGES_DIR / f"{name}.md"
        pages[name] = fill(source.read_text(encoding="utf-8"), values, str(source))
    return pages


def html_page(title: str, body_markdown: str) -> str:
    """A CodaLab page: Markdown to HTML (preset text in it is already ``markdown_text``)."""
    body = markdown.markdown(body_markdown, extensions=["tables", "fenced_code"])
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title>'
    return f"<!DOCTYPE html>\n<html><head>{head}</head>\n<body>\n{body}\n</body></html>\n"
