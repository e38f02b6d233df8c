"""Export a task from the private store: the participants' tree and the scorer's reference data.

The public tree is built from an **allow-list** (DESIGN principle 2): a file reaches
participants only if it is named below for its phase. Anything new in the store — a debug dump,
a future metadata field — stays private until someone adds it here on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from micokit.archspec import architecture
from micokit.layout import (
    CHALLENGE_FILE,
    DATA_DIR,
    DISCLOSED_TRAINING_FILES,
    FEATURES_FILE,
    LABELS_FILE,
    MANIFEST_FILE,
    METADATA_FILE,
    NONCHALLENGE_FILE,
    PHASES,
    PUBLIC_FILES,
    PUBLIC_FORMAT,
    SECRET_PHASES,
    SEED_FILES,
    SENTENCES_FILE,
    SOLUTION_FILE,
    TRAINING_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    ModelId,
    model_name,
    write_indices,
)
from micokit.layout import reference_manifest as layout_reference_manifest

from ..build.datasets import load_dataset, texts_to_tsv
from ..build.store import is_finished, read_lines, weights_path, write_json
from ..errors import ExportError
from ..spec.presets import Preset, TaskSpec
from ..writes import writing

# Metadata keys participants may see for dev/final models (train models show everything but
# nothing in private.json).
PUBLIC_METADATA = (
    "task",
    "phase",
    "model",
    "scenario",
    "architecture",
    "dataset",
    "n",
    "m",
    "epsilon_target",
    "epsilon_achieved",
    "delta",
    "noise_multiplier",
    "sample_rate",
    "steps",
    "max_grad_norm",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "test_accuracy",
    "library_versions",
)


# What the run itself took: different on every rebuild of the same model, so it stays in the
# store. Published, it would make two reproducible builds of one competition give different
# participant archives, and SHA256SUMS would not vouch for a rebuild.
RUN_METADATA = ("wall_time_s",)


def _atomic_dir(final: Path):
    """A temporary sibling directory that replaces ``final`` only once fully written."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    return tmp


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.parent / f".old-{final.name}-{secrets.token_hex(4)}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.rename(tmp, final)


def model_tasks(preset: Preset, task: TaskSpec) -> list[ModelId]:
    return [
        ModelId(task.id, scenario.id, phase, i)
        for scenario in task.scenarios
        for phase in PHASES
        for i in range(preset.models[phase])
    ]


def check_complete(preset: Preset, task: TaskSpec, store: Path) -> None:
    missing = [t for t in model_tasks(preset, task) if not is_finished(t.path(store))]
    if missing:
        raise ExportError(
            f"{store}: {len(missing)} model(s) of task {task.id!r} not generated yet "
            f"(first: {missing[0]}); run 'python -m generator generate' first"
        )


REGENERATE = "delete the model's folder and run 'python -m generator generate' again"


def verify_store(preset: Preset, task: TaskSpec, store: Path) -> None:
    """Check every model of ``task`` before anything is written from it.

    The store is only ever written atomically, so damage comes from outside (a copy cut short,
    a hand edit, a full disk on another tool); exporting it would ship broken weights or a
    reference that disagrees with the manifest, which participants would discover first. A
    model folder that is a link to, or a copy of, another model would be worse: a dev model
    copied from a train model has a hidden solution that participants already hold.
    """
    check_complete(preset, task, store)
    seen: dict[tuple[str, ...], ModelId] = {}
    for model in model_tasks(preset, task):
        scenario = task.scenario(model.scenario)
        path = model.path(store)
        metadata = _verify_identity(path, model)
        _verify_model(path, metadata, model.phase, scenario.n, scenario.m, task.disclose_training)
        # Every model draws its own 256-bit seeds (secrets, or a one-way derivation of the
        # master seed per model), so two models with the same seeds are one model twice.
        seeds = tuple((path / name).read_text(encoding="ascii") for name in SEED_FILES.values())
        if seeds in seen:
            raise ExportError(
                f"{path}: the same seeds as {seen[seeds].path(store)}, so a copy of that "
                f"model; {REGENERATE}"
            )
        seen[seeds] = model


def _verify_identity(path: Path, model: ModelId) -> dict[str, Any]:
    """The folder is a real folder of real files, and its metadata names this very model.

    Returns that metadata, read once for every check of the model.
    """
    if path.is_symlink():
        target = os.readlink(path)
        raise ExportError(f"{path}: a symbolic link to {target}, not a model folder; {REGENERATE}")
    for inner in path.rglob("*"):
        if inner.is_symlink():
            raise ExportError(f"{inner}: a symbolic link inside a model folder; {REGENERATE}")
    try:
        metadata = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        raise ExportError(f"{path / METADATA_FILE}: not valid JSON; {REGENERATE}") from None
    if not isinstance(metadata, dict):
        raise ExportError(f"{path / METADATA_FILE}: not a JSON object; {REGENERATE}")
    expected = {"task": model.task, "scenario": model.scenario, "phase": model.phase}
    expected["model"] = model.name
    for key, value in expected.items():
        if metadata.get(key) != value:
            raise ExportError(
                f"{path / METADATA_FILE}: says {key} {metadata.get(key)!r}, but the folder is "
                f"{key} {value!r} (a model moved or copied from elsewhere); {REGENERATE}"
            )
    return metadata


def _verify_model(
    path: Path, metadata: dict[str, Any], phase: str, n: int, m: int, disclose_training: bool
) -> None:
    needed = {METADATA_FILE, SOLUTION_FILE, CHALLENGE_FILE, *PUBLIC_FILES[phase]}
    needed |= set(SEED_FILES.values())
    if disclose_training:
        needed |= {TRAINING_FILE, *DISCLOSED_TRAINING_FILES}
    for name in sorted(needed):
        if not (path / name).is_file():
            raise ExportError(f"{path / name}: missing; {REGENERATE}")
    trained = (metadata.get("n"), metadata.get("m"))
    if trained != (n, m):
        raise ExportError(
            f"{path}: trained with (n, m) = {trained}, the preset says ({n}, {m}); {REGENERATE}"
        )
    expected = {
        SOLUTION_FILE: (_is_solution, f"{2 * m} lines of 0/1, {m} of them 1"),
        CHALLENGE_FILE: (_is_indices, f"{2 * m} distinct indices"),
    }
    for name, (check, what) in expected.items():
        try:
            values = read_lines(path / name)
        except (ValueError, UnicodeDecodeError):
            values = None
        if values is None or len(values) != 2 * m or not check(values, m):
            raise ExportError(f"{path / name}: expected {what}; {REGENERATE}")
    _verify_weights(path)


def _is_solution(values: np.ndarray, m: int) -> bool:
    return bool(np.isin(values, (0, 1)).all() and values.sum() == m)


def _is_indices(values: np.ndarray, m: int) -> bool:
    return bool((values >= 0).all() and len(np.unique(values)) == len(values))


def _verify_weights(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    weights = weights_path(path)
    try:
        with safe_open(str(weights), framework="pt") as handle:
            handle.keys()
    except (OSError, SafetensorError) as error:
        problem = "missing" if not weights.is_file() else f"unreadable ({error})"
        raise ExportError(f"{weights}: {problem}; {REGENERATE}") from None


def task_manifest(preset: Preset, task: TaskSpec, store: Path) -> dict[str, Any]:
    """The public description of a task: scenarios in order, privacy levels, architectures, models."""
    scenarios = []
    for scenario in task.scenarios:
        models = {phase: [model_name(i) for i in range(preset.models[phase])] for phase in PHASES}
        first_model = ModelId(task.id, scenario.id, "train", 0).path(store)
        first = json.loads((first_model / METADATA_FILE).read_text())
        arch = architecture(scenario.model["arch"])
        text = arch.text
        scenarios.append(
            {
                "id": scenario.id,
                "label": scenario.label,
                "epsilon": scenario.epsilon,
                "delta": scenario.delta,
                "dataset": scenario.dataset_name,
                "dataset_kind": scenario.dataset.kind,
                "max_length": scenario.dataset.max_length if text else None,
                "n": scenario.n,
                "m": scenario.m,
                "architecture": scenario.model,
                "weights": arch.weights,
                "noise_multiplier": first.get("noise_multiplier"),
                "models": models,
            }
        )
    return {
        "format": PUBLIC_FORMAT,
        "task": task.id,
        "title": task.title,
        "description": task.description,
        "disclose_training": task.disclose_training,
        "scenarios": scenarios,
    }


def _copy_hashed(source: Path, target: Path) -> str:
    """Copy one file and return its SHA-256, reading it once."""
    digest = hashlib.sha256()
    with writing(target), open(source, "rb") as src, open(target, "wb") as dst:
        for chunk in iter(lambda: src.read(1 << 20), b""):
            digest.update(chunk)
            dst.write(chunk)
    shutil.copystat(source, target)
    return digest.hexdigest()


def _copy_weights(source: Path, target: Path) -> str:
    """Copy a model's weights; return the digest of its safetensors file (for duplicates)."""
    if (source / WEIGHTS_DIR).is_dir():
        (target / WEIGHTS_DIR).mkdir()
        digest = ""
        for path in sorted((source / WEIGHTS_DIR).iterdir()):
            copied = _copy_hashed(path, target / WEIGHTS_DIR / path.name)
            digest = copied if path.name == WEIGHTS_FILE else digest
        return digest
    return _copy_hashed(source / WEIGHTS_FILE, target / WEIGHTS_FILE)


def _public_model(source: Path, target: Path, phase: str, disclose_training: bool) -> str:
    """Write one model's public folder; return its weights' digest."""
    target.mkdir(parents=True)
    digest = _copy_weights(source, target)
    for name in PUBLIC_FILES[phase]:
        shutil.copy2(source / name, target / name)
    metadata = json.loads((source / METADATA_FILE).read_text())
    for key in RUN_METADATA:
        metadata.pop(key, None)
    if phase != "train":
        metadata = {k: metadata[k] for k in PUBLIC_METADATA if k in metadata}
        if disclose_training:
            for name in DISCLOSED_TRAINING_FILES:
                shutil.copy2(source / name, target / name)
            challenge = read_lines(source / CHALLENGE_FILE)
            others = np.setdiff1d(read_lines(source / TRAINING_FILE), challenge)
            write_indices(target / NONCHALLENGE_FILE, others)
    write_json(target / METADATA_FILE, metadata)
    return digest


def _public_data(preset: Preset, task: TaskSpec, target: Path, data_dir: Path | None) -> list[str]:
    """Ship each dataset the task uses (demo presets), in plain numpy / TSV files."""
    written = []
    for scenario in task.scenarios:
        folder = target / DATA_DIR / scenario.dataset_name
        if folder.exists():
            continue
        folder.mkdir(parents=True)
        data = load_dataset(scenario.dataset, data_dir, scenario.model)
        if data.modality == "text":
            (folder / SENTENCES_FILE).write_text(
                texts_to_tsv(data.sentences, data.labels), encoding="utf-8"
            )
        else:
            with writing(folder / FEATURES_FILE):
                np.save(folder / FEATURES_FILE, data.features.numpy())
            with writing(folder / LABELS_FILE):
                np.save(folder / LABELS_FILE, data.labels)
        written.append(scenario.dataset_name)
    return written


def export_public(
    preset: Preset, task: TaskSpec, store: Path, out: Path, data_dir: Path | None = None
) -> Path:
    """Write ``<out>/<task>/``: what participants download (allow-list only)."""
    check_complete(preset, task, store)
    final = out / task.id
    tmp = _atomic_dir(final)
    try:
        manifest = task_manifest(preset, task, store)
        if preset.publish_data:
            manifest["data"] = _public_data(preset, task, tmp, data_dir)
        write_json(tmp / MANIFEST_FILE, manifest)
        weights: dict[str, ModelId] = {}
        for model in model_tasks(preset, task):
            target = tmp / model.scenario / model.phase / model.name
            digest = _public_model(model.path(store), target, model.phase, task.disclose_training)
            if digest in weights:  # trained models never coincide: one was copied from the other
                raise ExportError(
                    f"{model.path(store)}: the same weights as {weights[digest].path(store)}; "
                    f"{REGENERATE}"
                )
            weights[digest] = model
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def reference_manifest(preset: Preset, task: TaskSpec, phase: str) -> dict[str, Any]:
    """What the scorer trusts: scenarios in order, δ, and every model a submission must cover.

    The dev manifest also carries ``disclosure``, what a Development submission may show
    (``preset.schedule.development_disclosure``, see ``generator.spec.disclosure``): the scorer
    filters and rounds every score it writes or prints by it. The final manifest has none, so
    the Final phase gets the full output.
    """
    scenarios = [
        {
            "id": scenario.id,
            "label": scenario.label,
            "epsilon": scenario.epsilon,
            "delta": scenario.delta,
            "models": {
                p: {model_name(i): 2 * scenario.m for i in range(preset.models[p])}
                for p in SECRET_PHASES
            },
        }
        for scenario in task.scenarios
    ]
    disclosure = preset.schedule.manifest_disclosure(phase)
    return layout_reference_manifest(task.id, phase, scenarios, disclosure)


def export_reference(preset: Preset, task: TaskSpec, store: Path, out: Path) -> dict[str, Path]:
    """Write ``<out>/<task>/<phase>/`` for dev and final: manifest plus that phase's solutions."""
    check_complete(preset, task, store)
    written = {}
    for phase in SECRET_PHASES:
        final = out / task.id / phase
        tmp = _atomic_dir(final)
        try:
            write_json(tmp / MANIFEST_FILE, reference_manifest(preset, task, phase))
            for scenario in task.scenarios:
                for i in range(preset.models[phase]):
                    model = ModelId(task.id, scenario.id, phase, i)
                    target = tmp / task.id / scenario.id / phase / model.name
                    target.mkdir(parents=True)
                    shutil.copy2(model.path(store) / SOLUTION_FILE, target / SOLUTION_FILE)
            _replace_dir(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        written[phase] = final
    return written
