"""Render the competition pages and competition.yaml files from the preset (DESIGN principle 1).

Tables of scenarios, ε, model counts and leaderboard columns are generated here from the preset
and from the scoring program's own ``score_keys``; the Markdown templates in ``pages/`` hold only
prose and ``{{placeholders}}``. A placeholder without a value is an error, never blank text.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown
import yaml

from .presets import PHASES, Preset, ScenarioSpec, TaskSpec

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"
PAGE_NAMES = ("overview", "evaluation", "data", "terms")
SCORING_DIR = ROOT / "scoring_program"
CODALAB_TEMPLATE = ROOT / "competition.yaml"
CODABENCH_TEMPLATE = ROOT / "codabench.yaml"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
CODABENCH_MAX_KEY = 36


@lru_cache(maxsize=1)
def scorer_module():
    """The scoring program's ``score`` module, imported from its folder (it stays standalone)."""
    if str(SCORING_DIR) not in sys.path:
        sys.path.insert(0, str(SCORING_DIR))
    spec = importlib.util.spec_from_file_location("mico_score", SCORING_DIR / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_keys(num_scenarios: int) -> list[str]:
    return list(scorer_module().score_keys(num_scenarios))


def fill(template: str, values: dict[str, str], source: str) -> str:
    """Replace ``{{name}}`` placeholders; an unknown name is an organizer error."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"{source}: no value for placeholder {{{{{name}}}}}")
        return values[name]

    return PLACEHOLDER.sub(replace, template)


# --------------------------------------------------------------------------- tables


def _epsilon(scenario: ScenarioSpec) -> str:
    return "∞" if scenario.epsilon is None else f"{scenario.epsilon:g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def column_title(key: str, scenario_labels: list[str]) -> str:
    """A short, human title for a score key (Codabench allows 36 characters)."""
    match = re.fullmatch(r"scenario(\d+)_(.+)", key)
    if not match:
        return "Mean TPR@0.1FPR (ranking)"
    label = scenario_labels[int(match.group(1)) - 1]
    metric = match.group(2)
    if metric.startswith("TPR_FPR_"):
        metric = f"TPR@{int(metric[8:]) / 1e4:g}FPR"
    metric = {"MIA": "advantage", "eps_lb": "ε lower bound"}.get(metric, metric)
    return f"{label} {metric}"


def scenario_short_labels(task: TaskSpec) -> list[str]:
    """Leaderboard labels: the DP distinguisher's boards are named by dataset, others by ε."""
    if task.disclose_training:
        return [s.id.removesuffix("_ddp") for s in task.scenarios]
    return [s.label for s in task.scenarios]


def page_values(preset: Preset, task: TaskSpec) -> dict[str, str]:
    scenario_rows = [
        [f"{k}", f"`{s.id}`", s.label, _epsilon(s), "–" if s.epsilon is None else f"{s.delta:g}",
         s.dataset_name, s.model["arch"], str(s.n), str(2 * s.m)]
        for k, s in enumerate(task.scenarios, start=1)
    ]  # fmt: skip
    phase_rows = [
        ["Development", "dev", "scores on `dev` models shown live"],
        ["Final", "final", "development submissions re-scored on `final` models"],
    ]
    keys = score_keys(len(task.scenarios))
    labels = scenario_short_labels(task)
    column_rows = [[f"`{key}`", column_title(key, labels)] for key in keys]
    size_rows = [[f"`{s.id}`", str(s.n), str(s.m), str(s.m)] for s in task.scenarios]
    model_rows = [[f"`{s.id}`"] + [str(preset.models[p]) for p in PHASES] for s in task.scenarios]
    ddp = task.disclose_training
    return {
        "title": preset.title,
        "task_id": task.id,
        "task_title": task.title,
        "task_description": task.description,
        "scenario_table": _table(["#", "scenario", "label", "ε", "δ", "dataset", "model", "n (training set)", "challenge points per model"], scenario_rows),
        "phase_table": _table(["phase", "models scored", "what happens"], phase_rows),
        "column_table": _table(["key", "column"], column_rows),
        "size_table": _table(["scenario", "n (training set)", "members per model", "non-members per model"], size_rows),
        "model_table": _table(["scenario", *PHASES], model_rows),
        "ddp_sentence": (
            " and, since this is the DP distinguisher, the rest of the training set: "
            "`nonchallenge_training_indices.csv` and `seed_training`" if ddp else ""
        ),
        "ddp_files": ", nonchallenge_training_indices.csv, seed_training" if ddp else "",
        "data_line": "  data/<dataset>/                     the dataset (features.npy + labels.npy, or dataset.tsv)\n"
        if preset.publish_data else "",
    }  # fmt: skip


def render_markdown_pages(preset: Preset, task: TaskSpec) -> dict[str, str]:
    values = page_values(preset, task)
    pages = {}
    for name in PAGE_NAMES:
        source = PAGES_DIR / f"{name}.md"
        pages[name] = fill(source.read_text(encoding="utf-8"), values, str(source))
    return pages


def html_page(title: str, body_markdown: str) -> str:
    body = markdown.markdown(body_markdown, extensions=["tables", "fenced_code"])
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n<body>\n{body}\n</body></html>\n'


# --------------------------------------------------------------------------- competition.yaml


def _load_template(path: Path, values: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(fill(path.read_text(encoding="utf-8"), values, str(path)))


def _yaml_text(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _competition_values(preset: Preset, task: TaskSpec) -> dict[str, str]:
    title = f"{preset.title} — {task.title}".replace('"', "'")
    return {"title": title, "description": task.description.replace('"', "'") or title}


def render_codalab_yaml(preset: Preset, task: TaskSpec) -> str:
    """competition.yaml for CodaLab v1.5: a ranking board plus one board per scenario."""
    data = _load_template(CODALAB_TEMPLATE, _competition_values(preset, task))
    keys = score_keys(len(task.scenarios))
    labels = scenario_short_labels(task)
    boards: dict[str, Any] = {"Results_rank": {"label": "Ranking (mean TPR@0.1FPR)", "rank": 1}}
    for k, label in enumerate(labels, start=1):
        boards[f"Results_{k}"] = {"label": label, "rank": k + 1}
    columns: dict[str, Any] = {}
    rank_in_board: dict[str, int] = {}
    for key in keys:
        match = re.fullmatch(r"scenario(\d+)_(.+)", key)
        board = f"Results_{match.group(1)}" if match else "Results_rank"
        rank_in_board[board] = rank_in_board.get(board, 0) + 1
        title = column_title(key, labels)
        columns[key] = {
            "leaderboard": boards[board],  # the same object: YAML anchors, as CodaLab expects
            "label": title.split(" ", 1)[1] if match else title,
            "numeric_format": 4,
            "rank": 1 if key.endswith("_TPR_FPR_1000") else rank_in_board[board] + 1,
        }
    data["leaderboard"] = {"leaderboards": boards, "columns": columns}
    return _yaml_text(data)


def render_codabench_yaml(preset: Preset, task: TaskSpec) -> str:
    """competition.yaml for Codabench (version 2): one leaderboard, ranking score first."""
    data = _load_template(CODABENCH_TEMPLATE, _competition_values(preset, task))
    keys = score_keys(len(task.scenarios))
    labels = scenario_short_labels(task)
    ranking = [k for k in keys if not k.startswith("scenario")]
    ordered = ranking + [k for k in keys if k.startswith("scenario")]
    board = copy.deepcopy(data["leaderboards"][0])
    board["columns"] = [
        {
            "title": column_title(key, labels)[:CODABENCH_MAX_KEY],
            "key": key,
            "index": i,
            "sorting": "desc",
        }
        for i, key in enumerate(ordered)
    ]
    data["leaderboards"] = [board]
    return _yaml_text(data)
