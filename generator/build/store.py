"""The private store and the one pure, idempotent task it is built from: one model.

``<store>/<task>/<scenario>/<phase>/model_<i>/`` holds everything about one model, ground truth
included (see docs/layouts.md). A model directory is written under a temporary name in the same
folder and renamed into place only when complete, so a killed run never leaves a directory that
looks finished; re-running skips finished models (DESIGN principle 3).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from micokit.layout import (
    CHALLENGE_FILE,
    METADATA_FILE,
    MODEL_FILES,
    PHASES,
    PRIVATE_FILE,
    SEED_FILES,
    SOLUTION_FILE,
    TRAINING_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    ModelId,
    parse_indices,
    write_indices,
)

from .. import __version__
from .datasets import TaskData, dataset_fingerprint, load_dataset
from ..locks import try_claim
from ..spec.presets import DatasetSpec, Preset, ScenarioSpec
from ..spec.seeds import model_seeds, torch_seed
from ..spec.splits import Split, make_split

if TYPE_CHECKING:  # training imports torch; the store is read by commands that never train
    from .training import TrainedModel

TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class GenerationContext:
    """What every worker needs to run a :class:`ModelId`; small and picklable."""

    preset_path: str
    store: str
    data_dir: str | None = None
    master_seed: str | None = None  # None: secure mode, all seeds from the OS CSPRNG
    device: str = "auto"
    show_progress: bool = False
    retrain_stale: bool = False  # replace finished models whose config key no longer matches


def select_models(
    preset: Preset, tasks=None, scenarios=None, phases=None, indices=None
) -> list[ModelId]:
    """Every model the preset defines, optionally narrowed to chosen tasks/scenarios/phases/indices."""
    chosen = []
    for task in preset.tasks:
        if tasks and task.id not in tasks:
            continue
        for scenario in task.scenarios:
            if scenarios and scenario.id not in scenarios:
                continue
            for phase in PHASES:
                if phases and phase not in phases:
                    continue
                for index in range(preset.models[phase]):
                    if indices is None or index in indices:
                        chosen.append(ModelId(task.id, scenario.id, phase, index))
    return chosen


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


# DatasetSpec keys added after stores existed (the synthetic text corpus' neutral and negated
# fractions), with the defaults that reproduce the corpus as it was before them.
_DATASET_KEYS_ADDED = {
    f.name: f.default for f in fields(DatasetSpec) if f.name in ("ambiguous", "negation")
}


def config_parts(scenario: ScenarioSpec, fingerprint: str) -> dict[str, str]:
    """Everything besides the seeds that determines a scenario's models, in three parts.

    Kept apart (and stored apart in private.json) so that a stale model can be reported with
    what changed: the preset's settings, the dataset, or the generator's version.
    """
    settings = asdict(scenario)
    del settings["label"]  # a leaderboard caption: renaming it must not retrain anything
    if scenario.epsilon is None:
        del settings["delta"]  # plain training never reads δ
    if scenario.training.trainer == "standard":
        # Keys added with the batched trainer: at their defaults they change nothing, and
        # models finished before they existed must stay current.
        for key in ("trainer", "batch_models"):
            del settings["training"][key]
    for key, default in _DATASET_KEYS_ADDED.items():  # the same for these dataset keys
        if settings["dataset"][key] == default:
            del settings["dataset"][key]
    return {"settings": _sha256_json(settings), "dataset": fingerprint, "code": __version__}


def config_key(parts: dict[str, str]) -> str:
    """One hash of :func:`config_parts`: a finished model with another key is *stale*."""
    return _sha256_json(parts)


@lru_cache(maxsize=16)
def _fingerprint(spec: DatasetSpec, data_dir: str | None, pretrained: str | None) -> str:
    """Hash each dataset once per process: a worker checks many models against the same data."""
    data = load_dataset(spec, Path(data_dir) if data_dir else None, {"pretrained": pretrained})
    return dataset_fingerprint(data)


def current_config(scenario: ScenarioSpec, data_dir: str | None) -> dict[str, str]:
    """The config parts a model of ``scenario`` trained now would get."""
    fingerprint = _fingerprint(scenario.dataset, data_dir, scenario.model.get("pretrained"))
    return config_parts(scenario, fingerprint)


def current_config_key(scenario: ScenarioSpec, data_dir: str | None) -> str:
    return config_key(current_config(scenario, data_dir))


def _what_changed(stored: Any, current: dict[str, str]) -> str:
    if not isinstance(stored, dict):  # written before the parts were kept
        return "preset settings, dataset or generator version changed"
    changes = []
    if stored.get("settings") != current["settings"]:
        changes.append("preset settings changed")
    if stored.get("dataset") != current["dataset"]:
        changes.append("dataset changed")
    if stored.get("code") != current["code"]:
        changes.append(f"generator version changed ({stored.get('code')} → {current['code']})")
    return "; ".join(changes) or "configuration changed"


def stale_reason(context: GenerationContext, task: ModelId, current: dict[str, str]) -> str | None:
    """Why the finished model of ``task`` no longer matches the configuration, or None if it does.

    ``current`` is :func:`current_config` of the task's scenario. In master-seed mode the stored
    seeds must also be the ones derived from the master secret: a model trained in secure mode
    or from another master secret cannot be reproduced from this one.
    """
    directory = task.path(Path(context.store))
    try:
        private = json.loads((directory / PRIVATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no readable {PRIVATE_FILE}"
    if private.get("config_key") != config_key(current):
        return _what_changed(private.get("config_parts"), current)
    if context.master_seed is None:
        return None
    if private.get("seed_mode") != "master":
        return "trained in secure mode, not from the master seed"
    seeds = model_seeds(context.master_seed, task.task, task.scenario, task.phase, task.index)
    for role, filename in SEED_FILES.items():
        try:
            stored = (directory / filename).read_text(encoding="ascii").strip()
        except OSError:
            return f"no {filename}"
        if stored != seeds[role]:
            return "seeds differ from those of the master seed"
    if private.get("training_seed") != torch_seed(seeds["train_run"]):
        return "training seed differs from that of the master seed"
    return None


def find_stale(context: GenerationContext, tasks: list[ModelId]) -> dict[ModelId, str]:
    """The finished models among ``tasks`` that are stale, each with the reason.

    Unfinished models are ignored. Each scenario's dataset is loaded and hashed once.
    """
    from ..spec.presets import load_preset

    finished = [task for task in tasks if is_finished(task.path(Path(context.store)))]
    if not finished:
        return {}
    preset = load_preset(context.preset_path)
    configs: dict[tuple[str, str], dict[str, str]] = {}
    stale = {}
    for task in finished:
        if (task.task, task.scenario) not in configs:
            scenario = preset.task(task.task).scenario(task.scenario)
            configs[task.task, task.scenario] = current_config(scenario, context.data_dir)
        reason = stale_reason(context, task, configs[task.task, task.scenario])
        if reason:
            stale[task] = reason
    return stale


def read_lines(path: Path) -> np.ndarray:
    return parse_indices(path.read_text(encoding="ascii"))


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_weights(model, data: TaskData, directory: Path) -> None:
    """Weights that load without running pickled code: safetensors, or save_pretrained for RoBERTa."""
    if hasattr(model, "save_pretrained"):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model.save_pretrained(directory / WEIGHTS_DIR, safe_serialization=True)
        data.tokenizer.save_pretrained(directory / WEIGHTS_DIR)
        return
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, directory / WEIGHTS_FILE, metadata={"format": "pt"})


def write_split(directory: Path, split: Split, seeds: dict[str, str]) -> None:
    write_indices(directory / CHALLENGE_FILE, split.challenge)
    write_indices(directory / TRAINING_FILE, split.training)
    write_indices(directory / SOLUTION_FILE, split.membership)
    for role, filename in SEED_FILES.items():
        (directory / filename).write_text(seeds[role] + "\n", encoding="ascii")


def is_finished(path: Path) -> bool:
    return (path / METADATA_FILE).is_file()


_LEFTOVER = re.compile(rf"^{re.escape(TMP_PREFIX)}(?:stale-)?(model_\d+)-[0-9a-f]+$")


def sweep_partial(store: Path, tasks: list[ModelId] | None = None) -> list[Path]:
    """Remove temporary directories left by interrupted runs; return what was removed.

    Only the chosen models' leftovers are touched (all models' when ``tasks`` is None), and of
    those only the ones whose model no live run has claimed (:mod:`generator.locks`): a second
    ``generate`` on the same store, or a Slurm job array working on other model ranges of it,
    never deletes a folder another run is still writing.
    """
    if not store.is_dir():
        return []
    finals: set[Path] = set()
    if tasks is None:
        for tmp in store.glob(f"*/*/*/{TMP_PREFIX}*"):
            match = _LEFTOVER.match(tmp.name)
            if match:
                finals.add(tmp.parent / match.group(1))
    else:
        finals = {task.path(store) for task in tasks if _leftovers(task.path(store))}
    removed = []
    for final in sorted(finals):
        claim = try_claim(final)
        if claim is None:  # a live run is training this model: its folder is not a leftover
            continue
        with claim:
            removed += _remove_leftovers(final)
    return removed


def _leftovers(final: Path) -> list[Path]:
    if not final.parent.is_dir():
        return []
    return [
        tmp
        for tmp in final.parent.glob(f"{TMP_PREFIX}*{final.name}-*")
        if (match := _LEFTOVER.match(tmp.name)) and match.group(1) == final.name
    ]


def _remove_leftovers(final: Path) -> list[Path]:
    """Delete the ``.tmp-`` folders of the model at ``final``; call only holding its claim."""
    leftovers = _leftovers(final)
    for tmp in leftovers:
        shutil.rmtree(tmp, ignore_errors=True)
    return leftovers


def weights_path(directory: Path) -> Path:
    """The safetensors file of the model folder ``directory``: in ``model/`` for RoBERTa
    (save_pretrained), else ``model.safetensors`` itself."""
    if (directory / WEIGHTS_DIR).is_dir():
        return directory / WEIGHTS_DIR / WEIGHTS_FILE
    return directory / WEIGHTS_FILE


def _check_complete(tmp: Path) -> None:
    """Refuse to rename an incomplete folder into place (a bug or a damaged disk, never a race)."""
    weights = weights_path(tmp)
    missing = [name for name in MODEL_FILES if not (tmp / name).is_file()]
    if not weights.is_file():
        missing.insert(0, weights.name)
    if missing:
        raise RuntimeError(f"{tmp}: incomplete model folder (missing {', '.join(missing)})")


def training_group(preset: Preset, task: ModelId) -> tuple[ModelId, ...]:
    """The models trained in one call together with ``task``: ``(task,)`` unless batched.

    A batched scenario's models, in the order train, dev, final, are cut into consecutive
    groups of ``training.batch_models``. The groups depend on the preset alone, never on which
    models are still to do, so resuming, narrowing (``--phases``, ``--models``) or another
    executor train every model in the same company, and reproducible stores stay byte-identical.
    """
    scenario = preset.task(task.task).scenario(task.scenario)
    size = scenario.training.models_per_call
    if size == 1:
        return (task,)
    models = select_models(preset, tasks=[task.task], scenarios=[task.scenario])
    first = models.index(task) // size * size
    return tuple(models[first : first + size])


def work_units(preset: Preset, tasks: list[ModelId]) -> list[tuple[ModelId, ...]]:
    """``tasks`` gathered by :func:`training_group`, in order of first appearance: what an
    executor hands to one call of :func:`run_model_unit`."""
    units: dict[tuple[ModelId, ...], list[ModelId]] = {}
    for task in tasks:
        units.setdefault(training_group(preset, task), []).append(task)
    return [tuple(members) for members in units.values()]


# What run_model_unit says about each model: (model, outcome, error). The outcome is "done",
# "skipped" (already finished), "stale" (finished under another configuration, kept untouched
# and not reused), "claimed" (another run is training it right now; see generator.locks) or
# "error", with the error's one-line text.
Outcome = tuple[ModelId, str, "str | None"]


def run_model_unit(context: GenerationContext, unit: tuple[ModelId, ...]) -> list[Outcome]:
    """Train and store the models of ``unit`` (one training group, or part of one).

    Pure and idempotent: each result depends only on the preset, the dataset, the seeds and the
    model's identity (and its group's, see :func:`training_group`), and nothing becomes visible
    under a model's final name until that model is complete. The whole group is trained even
    when only some of its models are to be stored, so that they come out as in a full run.
    With ``context.retrain_stale`` a stale model is trained again and swapped in by renames.
    An exception may come after some models of the unit were stored: each of those is whole
    (renamed into place complete), and no model is ever left half-written under its name.
    """
    from ..spec.presets import load_preset

    preset = load_preset(context.preset_path)
    scenario = preset.task(unit[0].task).scenario(unit[0].scenario)
    config = current_config(scenario, context.data_dir)
    store = Path(context.store)
    outcomes: dict[ModelId, tuple[str, str | None]] = {}
    pending = []
    for task in unit:
        if is_finished(task.path(store)) and stale_reason(context, task, config) is None:
            outcomes[task] = ("skipped", None)  # the common case on a rerun, without a claim
        else:
            pending.append(task)
    with ExitStack() as claims:
        mine: dict[ModelId, bool] = {}  # model -> whether it replaces a finished one
        for task in pending:
            final = task.path(store)
            claim = try_claim(final)
            if claim is None:
                outcomes[task] = ("claimed", None)
                continue
            claims.enter_context(claim)
            # Holding the claim: the model cannot change under us, and any .tmp- folder of it
            # belongs to a run that is gone.
            _remove_leftovers(final)
            if is_finished(final):  # perhaps finished by another run since the check above
                if stale_reason(context, task, config) is None:
                    outcomes[task] = ("skipped", None)
                    continue
                if not context.retrain_stale:
                    outcomes[task] = ("stale", None)
                    continue
            mine[task] = is_finished(final)
        if mine:
            outcomes.update(_train_and_store(context, preset, scenario, config, mine))
    return [(task, *outcomes[task]) for task in unit]


def _train_and_store(
    context: GenerationContext,
    preset: Preset,
    scenario: ScenarioSpec,
    config: dict[str, str],
    mine: dict[ModelId, bool],
) -> dict[ModelId, tuple[str, str | None]]:
    """Train the group of the claimed models ``mine`` and store those; call holding the claims."""
    from .trainers import Run, non_finite_problem, train_runs
    from .training import pick_device

    group = training_group(preset, next(iter(mine)))
    data_dir = Path(context.data_dir) if context.data_dir else None
    data = load_dataset(scenario.dataset, data_dir, scenario.model)
    plans, runs = [], []
    for task in group:
        seeds = model_seeds(context.master_seed, task.task, task.scenario, task.phase, task.index)
        split = make_split(
            len(data),
            scenario.n,
            scenario.m,
            seeds["challenge"],
            seeds["membership"],
            seeds["training"],
        )
        seed = torch_seed(seeds["train_run"]) if context.master_seed else secrets.randbits(63)
        plans.append((seeds, split, seed))
        runs.append(Run(split.training, split.evaluation, seed, str(task)))
    trained = train_runs(
        scenario, data, runs, pick_device(context.device), data_dir, context.show_progress
    )
    outcomes: dict[ModelId, tuple[str, str | None]] = {}
    for task, (seeds, split, seed), model in zip(group, plans, trained, strict=True):
        if task not in mine:
            continue  # trained for its company only: finished, or another run's to store
        problem = non_finite_problem(model)
        if problem is not None:
            outcomes[task] = ("error", problem)
            continue
        stored = StoredModel(model, data, split, seeds, seed)
        outcomes[task] = (_store_model(context, task, scenario, config, stored, mine[task]), None)
    return outcomes


@dataclass(frozen=True)
class StoredModel:
    """What one model folder is written from."""

    trained: TrainedModel
    data: TaskData
    split: Split
    seeds: dict[str, str]
    training_seed: int


def _store_model(
    context: GenerationContext,
    task: ModelId,
    scenario: ScenarioSpec,
    config: dict[str, str],
    model: StoredModel,
    replacing: bool,
) -> str:
    """Write one model under a temporary name and rename it into place; ``"done"``, or
    ``"skipped"`` when another worker finished the same model first."""
    final = task.path(Path(context.store))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{task.name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        save_weights(model.trained.model, model.data, tmp)
        write_split(tmp, model.split, model.seeds)
        metadata = {
            "task": task.task,
            "phase": task.phase,
            "model": task.name,
            "architecture": scenario.model,
            "dataset": scenario.dataset_name,
            "n": scenario.n,
            "m": scenario.m,
            **model.trained.metadata,
        }
        private = {
            "config_key": config_key(config),
            "config_parts": config,
            "seed_mode": "master" if context.master_seed else "secure",
            # Secure mode keeps no training seed at all: nobody can replay the DP noise.
            "training_seed": model.training_seed if context.master_seed else None,
        }
        write_json(tmp / PRIVATE_FILE, private)
        write_json(tmp / METADATA_FILE, metadata)
        _check_complete(tmp)
        # A folder under the final name without metadata.json was damaged by hand (the store
        # itself only ever renames complete models into place): replace it like a stale one.
        if replacing or (final.exists() and not is_finished(final)):
            _swap_in(tmp, final)
        else:
            os.rename(tmp, final)
    except OSError:
        if is_finished(final):  # another worker finished the same model first
            shutil.rmtree(tmp, ignore_errors=True)
            return "skipped"
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return "done"


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace the finished (stale) ``final`` with the complete ``tmp``.

    Two renames: the old model moves aside under a temporary name first, so at every instant
    ``final`` is either the old complete model, absent (retrained by the next run), or the new
    complete model. A crash between them leaves only a ``.tmp-`` directory for
    :func:`sweep_partial`.
    """
    old = final.parent / f"{TMP_PREFIX}stale-{final.name}-{secrets.token_hex(4)}"
    os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
