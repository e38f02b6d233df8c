"""Pack predictions into the scorer's zip layout and check a zip with the scorer's own code.

Layout (docs/layouts.md): ``<task>/<scenario>/<phase>/model_<i>/prediction.csv``, one score in
[0, 1] per challenge point, in challenge order. Validation does not re-implement the scorer's
rules: it loads the scoring program itself and calls its ``validate_submission``, with the
public manifest standing in for the reference data (same task, scenarios, models and counts;
no solutions), so a zip that passes here passes on the platform, with the same messages.

The scoring program is looked for, in order: an explicit path; ``scoring_program/`` beside the
task folder in the data folder (the participant archive ships it there); the repository's
``scoring_program/`` when the kit runs from a checkout.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .errors import DataError, ScorerNotFound, SubmissionInvalid
from .loading import Task

PREDICTION_FILE = "prediction.csv"
SUBMITTED_PHASES = ("dev", "final")
REFERENCE_FORMAT = "mico-reference/1"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)

# scenario id -> phase -> model name -> scores in challenge order
Predictions = Mapping[str, Mapping[str, Mapping[str, Any]]]

_SCORERS: dict[Path, ModuleType] = {}


# ----------------------------------------------------------------------------- the scorer


def find_scorer(data_root: str | Path | None = None, explicit: str | Path | None = None) -> Path:
    """Path of ``score.py``: explicit, else beside the task folder, else the repo checkout."""
    candidates: list[Path] = []
    if explicit is not None:
        path = Path(explicit).expanduser()
        path = path / "score.py" if path.is_dir() else path
        if not path.is_file():
            raise ScorerNotFound(f"{path}: no scoring program there (expected score.py)")
        return path.resolve()
    if data_root is not None:
        root = Path(data_root).expanduser()
        candidates += [root / "scoring_program", root.parent / "scoring_program"]
    candidates.append(Path(__file__).resolve().parents[2] / "scoring_program")
    for folder in candidates:
        if (folder / "score.py").is_file():
            return (folder / "score.py").resolve()
    raise ScorerNotFound(
        "scoring program not found: pass --scorer PATH/TO/scoring_program (it ships in the data "
        "archive as scoring_program/, beside the task folder)"
    )


def load_scorer(path: str | Path | None = None, data_root: str | Path | None = None) -> ModuleType:
    """Import the scoring program's ``score.py`` by path (once per path).

    The scorer puts its own folder on ``sys.path`` to import its helper modules; they have
    unique names (``scorer_*``), and two different scorer copies in one process are refused
    rather than silently mixed.
    """
    score_py = find_scorer(data_root, path)
    if score_py in _SCORERS:
        return _SCORERS[score_py]
    loaded = sys.modules.get("scorer_inputs")
    if loaded is not None and Path(loaded.__file__).resolve().parent != score_py.parent:
        raise ScorerNotFound(
            f"another scoring program ({Path(loaded.__file__).parent}) is already loaded in this "
            f"process; cannot also load {score_py.parent}"
        )
    name = f"_micokit_score_{len(_SCORERS)}"
    spec = importlib.util.spec_from_file_location(name, score_py)
    if spec is None or spec.loader is None:
        raise ScorerNotFound(f"{score_py}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _SCORERS[score_py] = module
    return module


# ----------------------------------------------------------------------------- packing


def format_scores(scores: Iterable[float]) -> bytes:
    """One value per line, shortest repr that reads back to the same float (no rank changes)."""
    return "".join(f"{float(v)!r}\n" for v in scores).encode("ascii")


def check_scores(scores: Any, count: int | None, where: str) -> np.ndarray:
    """Finite numbers in [0, 1], one per challenge point; ValueError names the model."""
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if count is not None and values.size != count:
        raise ValueError(
            f"{where}: {values.size} scores, expected {count} (one per challenge point)"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
    if bad.size:
        raise ValueError(
            f"{where}: score #{bad[0] + 1} is {values[bad[0]]!r}; scores must be finite and in [0, 1]"
        )
    return values


def pack(
    task: Task,
    predictions: Predictions,
    out: str | Path,
    phases: Iterable[str] = SUBMITTED_PHASES,
) -> Path:
    """Write a submission zip for ``phases`` (default dev and final) of every scenario.

    Byte-for-byte deterministic: entries sorted, fixed timestamps and permissions. Every model
    the manifest lists must have one score per challenge point. Written atomically.
    """
    entries: dict[str, bytes] = {}
    for scenario in task.scenarios:
        for phase in phases:
            names = scenario.models.get(phase, ())
            given = predictions.get(scenario.id, {}).get(phase, {})
            for name in names:
                where = f"{scenario.id}/{phase}/{name}"
                if name not in given:
                    raise ValueError(f"{where}: no predictions given")
                values = check_scores(given[name], 2 * scenario.m, where)
                entries[f"{task.id}/{where}/{PREDICTION_FILE}"] = format_scores(values)
    return write_zip(Path(out), entries)


def write_zip(target: Path, entries: Mapping[str, bytes]) -> Path:
    target = target.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(4)}"
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.external_attr = 0o644 << 16
                info.create_system = 3
                archive.writestr(info, entries[name], zipfile.ZIP_DEFLATED, 6)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def read_zip(path: str | Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Predictions of a zip written by :func:`pack` (any phase), for re-use or inspection."""
    result: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            parts = name.split("/")
            if len(parts) >= 4 and parts[-1] in (PREDICTION_FILE, "predictions.csv"):
                scenario, phase, model = parts[-4:-1]
                text = archive.read(name).decode("ascii").replace(",", " ")
                values = np.asarray([float(v) for v in text.split()], dtype=np.float64)
                result.setdefault(scenario, {}).setdefault(phase, {})[model] = values
    return result


# ----------------------------------------------------------------------------- references


def reference_manifest(task: Task, phases: Iterable[str] = SUBMITTED_PHASES,
                       scored: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A reference manifest built from the public one: every model of ``phases`` and its count."""
    phases = list(phases)
    return {
        "format": REFERENCE_FORMAT,
        "task": task.id,
        "phase": scored,
        "scenarios": [
            {
                "id": s.id,
                "label": s.label,
                "epsilon": s.epsilon,
                "delta": s.delta,
                "models": {p: {name: 2 * s.m for name in s.models.get(p, ())} for p in phases},
            }  # fmt: skip
            for s in task.scenarios
        ],
    }


def write_train_reference(task: Task, out: str | Path) -> Path:
    """Reference data for the ``train`` phase, from the published train solutions.

    The real scorer can then score predictions on train models (``micokit score-train``), the
    only models whose membership participants know.
    """
    out = Path(out)
    manifest = reference_manifest(task, ("train",), scored="train")
    for scenario in task.scenarios:
        for ref in task.models(scenario, "train"):
            folder = out / task.id / scenario.id / "train" / ref.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "solution.csv").write_text("".join(f"{int(v)}\n" for v in ref.membership))
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- validation


def validate(submission: str | Path, task: Task, scorer: ModuleType | None = None) -> list[str]:
    """Check a submission zip with the scorer's ``validate_submission``; return its warnings.

    Raises :class:`SubmissionInvalid` carrying the scorer's own message (the text the platform
    would show).
    """
    scorer = scorer or load_scorer(data_root=task.root.parent)
    with tempfile.TemporaryDirectory(prefix="micokit-") as tmp:
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(reference_manifest(task)), encoding="utf-8")
        try:
            return list(scorer.validate_submission(str(submission), str(manifest)))
        except _reference_error(scorer) as error:
            raise public_manifest_error(task, error) from None
        except scorer.ScoringError as error:
            raise SubmissionInvalid(error.render()) from None


def _reference_error(scorer: ModuleType) -> type[BaseException] | tuple[()]:
    """The scorer's ReferenceDataError class (an empty tuple, catching nothing, if absent)."""
    return getattr(scorer, "ReferenceDataError", ())


def public_manifest_error(task: Task, error: Any) -> DataError:
    """The scorer's complaint about the reference micokit built from the public manifest.

    That reference is only the participant's ``<task>/manifest.json`` re-written, so the
    scorer's "reference data error (organizer)" would blame the wrong party and file: the
    problem is in the participant's copy of the manifest, which the message names.
    """
    problems = [str(p).removeprefix("manifest.json: ") for p in error.problems]
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return DataError(f"{task.manifest_path}: {problems[0]}{more}")


def score_train(
    submission: str | Path, task: Task, scorer: ModuleType | None = None
) -> dict[str, float]:
    """Score the ``train`` predictions of a zip with the real scorer against train solutions.

    The zip must hold ``<scenario>/train/model_<i>/prediction.csv`` for every train model
    (e.g. written with ``pack(task, predictions, out, phases=["train"])``).
    """
    scorer = scorer or load_scorer(data_root=task.root.parent)
    with tempfile.TemporaryDirectory(prefix="micokit-") as tmp:
        reference = write_train_reference(task, Path(tmp) / "reference")
        try:
            result = scorer.score_submission(str(submission), str(reference))
        except _reference_error(scorer) as error:
            raise public_manifest_error(task, error) from None
        except scorer.ScoringError as error:
            raise SubmissionInvalid(error.render()) from None
    return {key: float(value) for key, value in result.scores.items()}
