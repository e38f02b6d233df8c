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

from .errors import DataError, MicokitError, ScorerNotFound, SubmissionInvalid
from .layout import (
    MANIFEST_FILE,
    PREDICTION_FILE,
    PREDICTION_SYNONYM,
    SECRET_PHASES,
    SOLUTION_FILE,
    write_indices,
    write_zip_entries,
)
from .layout import reference_manifest as layout_reference_manifest
from .loading import Task

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


class PredictionError(MicokitError):
    """Predictions handed to :func:`pack` do not fit the task (a key, a count or a value)."""


def _names(values: Iterable[str]) -> str:
    return ", ".join(map(str, values)) or "none"


def _in_order(phases: Iterable[str]) -> list[str]:
    """Phases as a reader expects them: train, dev, final, then any other in its order."""
    order = ("train", *SECRET_PHASES)
    phases = list(dict.fromkeys(phases))
    return [p for p in order if p in phases] + [p for p in phases if p not in order]


def check_scores(scores: Any, count: int | None, where: str) -> np.ndarray:
    """Finite numbers in [0, 1], one per challenge point; PredictionError names the model.

    Values in messages are plain Python numbers (``1.5``, ``nan``), not numpy reprs.
    """
    try:
        values = np.asarray(scores, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PredictionError(
            f"{where}: the scores are not numbers ({type(scores).__name__}: {detail})"
        ) from None
    if count is not None and values.size != count:
        raise PredictionError(
            f"{where}: {values.size} scores, expected {count} (one per challenge point)"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > 1))
    if bad.size:
        first = int(bad[0])
        raise PredictionError(
            f"{where}: score #{first + 1} is {float(values[first])!r}; "
            "scores must be finite and in [0, 1]"
        )
    return values


def _mapping(value: Any, where: str, of: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PredictionError(f"{where}: expected a dict of {of}, not {type(value).__name__}")
    return value


def check_predictions(task: Task, predictions: Any, phases: Iterable[str]) -> None:
    """Every key of ``predictions`` names a scenario, phase and model of the task.

    A misspelled or unknown key is named with the expected ones (and the missing ones), not
    reported later as missing predictions; a phase that no scenario of the task has (``test``)
    is an error, not ignored. Phases of the task that are not packed (``train`` in a dev/final
    zip) may be given and are ignored.
    """
    phases = list(phases)
    known_phases = _in_order(p for s in task.scenarios for p in s.models)
    unknown = [p for p in phases if p not in known_phases]
    if unknown or not phases:
        what = f"unknown phase {_names(map(repr, unknown))}" if unknown else "none given"
        raise PredictionError(f"phases: {what}; task {task.id!r} has phases {_names(known_phases)}")
    predictions = _mapping(predictions, "predictions", "scenario ids")
    expected = [s.id for s in task.scenarios]
    extra = [key for key in predictions if key not in expected]
    missing = [key for key in expected if key not in predictions]
    if extra or missing:
        what = f"unknown scenario {_names(map(repr, extra))}; " if extra else ""
        raise PredictionError(
            f"predictions: {what}task {task.id!r} has scenarios {_names(expected)} "
            f"(missing: {_names(missing)})"
        )
    for scenario in task.scenarios:
        where = f"predictions[{scenario.id!r}]"
        tree = _mapping(predictions[scenario.id], where, "phases")
        for phase in tree:
            if phase not in scenario.models:
                raise PredictionError(
                    f"{where}: unknown phase {phase!r}; scenario {scenario.id!r} has phases "
                    f"{_names(_in_order(scenario.models))}"
                )
        for phase in phases:
            names = scenario.models.get(phase, ())
            if names and phase not in tree:
                raise PredictionError(
                    f"{where}: no {phase!r} predictions (phases given: {_names(tree)}; "
                    f"packing {_names(phases)})"
                )
            given = _mapping(tree.get(phase, {}), f"{where}[{phase!r}]", "model names")
            extra = [name for name in given if name not in names]
            if extra:
                missing = [name for name in names if name not in given]
                raise PredictionError(
                    f"{where}[{phase!r}]: unknown model {_names(map(repr, extra))}; "
                    f"{phase} models are {_names(names)} (missing: {_names(missing)})"
                )


def pack(
    task: Task,
    predictions: Predictions,
    out: str | Path,
    phases: Iterable[str] = SECRET_PHASES,
) -> Path:
    """Write a submission zip for ``phases`` (default dev and final) of every scenario.

    Byte-for-byte deterministic: entries sorted, fixed timestamps and permissions. Every model
    the manifest lists must have one score per challenge point. Written atomically.
    Unknown scenario, phase or model keys are refused (:func:`check_predictions`), as are
    scores that the scorer would refuse; nothing is written then.
    """
    phases = list(phases)
    check_predictions(task, predictions, phases)
    entries: dict[str, bytes] = {}
    for scenario in task.scenarios:
        for phase in phases:
            names = scenario.models.get(phase, ())
            given = predictions.get(scenario.id, {}).get(phase, {})
            for name in names:
                where = f"{scenario.id}/{phase}/{name}"
                if name not in given:
                    raise PredictionError(f"{where}: no predictions given")
                values = check_scores(given[name], 2 * scenario.m, where)
                entries[f"{task.id}/{where}/{PREDICTION_FILE}"] = format_scores(values)
    return write_zip(Path(out), entries)


def write_zip(target: Path, entries: Mapping[str, bytes]) -> Path:
    target = target.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(4)}"
    try:
        with open(tmp, "wb") as handle:
            write_zip_entries(handle, entries.items())
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
            if len(parts) >= 4 and parts[-1] in (PREDICTION_FILE, PREDICTION_SYNONYM):
                scenario, phase, model = parts[-4:-1]
                text = archive.read(name).decode("ascii").replace(",", " ")
                values = np.asarray([float(v) for v in text.split()], dtype=np.float64)
                result.setdefault(scenario, {}).setdefault(phase, {})[model] = values
    return result


# ----------------------------------------------------------------------------- references


def reference_manifest(
    task: Task, phases: Iterable[str] = SECRET_PHASES, scored: str | None = None
) -> dict[str, Any]:
    """A reference manifest built from the public one: every model of ``phases`` and its count."""
    phases = list(phases)
    scenarios = [
        {
            "id": s.id,
            "label": s.label,
            "epsilon": s.epsilon,
            "delta": s.delta,
            "models": {p: {name: 2 * s.m for name in s.models.get(p, ())} for p in phases},
        }
        for s in task.scenarios
    ]
    return layout_reference_manifest(task.id, scored, scenarios)


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
            write_indices(folder / SOLUTION_FILE, ref.membership)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- validation


def validate(submission: str | Path, task: Task, scorer: ModuleType | None = None) -> list[str]:
    """Check a submission zip with the scorer's ``validate_submission``; return its warnings.

    Raises :class:`SubmissionInvalid` carrying the scorer's own message (the text the platform
    would show).
    """
    scorer = scorer or load_scorer(data_root=task.root.parent)
    with tempfile.TemporaryDirectory(prefix="micokit-") as tmp:
        manifest = Path(tmp) / MANIFEST_FILE
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
    submission: str | Path,
    task: Task,
    scorer: ModuleType | None = None,
    html: str | Path | None = None,
) -> dict[str, float]:
    """Score the ``train`` predictions of a zip with the real scorer against train solutions.

    The zip must hold ``<scenario>/train/model_<i>/prediction.csv`` for every train model
    (e.g. written with ``pack(task, predictions, out, phases=["train"])``). With ``html``, the
    scorer's own detailed results page (``detailed_results.html`` on the platform: metric
    table, ROC curves) is written there, built by the same call ``score.py`` makes. Only the
    published train solutions are involved; no dev or final ground truth exists on this side.
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
    if html is not None:
        write_text(Path(html), detailed_results(scorer, result))
    return {key: float(value) for key, value in result.scores.items()}


def detailed_results(scorer: ModuleType, result: Any) -> str:
    """The detailed results page of a scored submission, as ``score.py`` writes it."""
    contents = getattr(scorer, "output_contents", None)
    if contents is None:
        raise ScorerNotFound(
            f"{scorer.__file__}: this scoring program cannot write detailed results "
            "(it has no output_contents); use the one shipped with the data"
        )
    return contents(result, plots=True)["detailed_results.html"]


def write_text(target: Path, text: str) -> Path:
    """Write a text file atomically (a temporary file beside it, then renamed)."""
    target = target.expanduser()
    tmp = target.parent / f".tmp-{target.name}-{secrets.token_hex(4)}"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
