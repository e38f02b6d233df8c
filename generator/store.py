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
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .datasets import TaskData, dataset_fingerprint, load_dataset
from .presets import PHASES, Preset, ScenarioSpec
from .seeds import model_seeds, torch_seed
from .splits import Split, make_split

TMP_PREFIX = ".tmp-"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_DIR = "model"  # RoBERTa: save_pretrained directory
SEED_FILES = {
    "challenge": "seed_challenge",
    "membership": "seed_membership",
    "training": "seed_training",
}


@dataclass(frozen=True, order=True)
class ModelTask:
    """The identity of one model: everything else follows from it and the preset."""

    task: str
    scenario: str
    phase: str
    index: int

    @property
    def name(self) -> str:
        return f"model_{self.index}"

    def path(self, store: Path) -> Path:
        return Path(store) / self.task / self.scenario / self.phase / self.name

    def __str__(self) -> str:
        return f"{self.task}/{self.scenario}/{self.phase}/{self.name}"


@dataclass(frozen=True)
class GenerationContext:
    """What every worker needs to run a :class:`ModelTask`; small and picklable."""

    preset_path: str
    store: str
    data_dir: str | None = None
    master_seed: str | None = None  # None: secure mode, all seeds from the OS CSPRNG
    device: str = "auto"
    show_progress: bool = False


def all_tasks(
    preset: Preset, tasks=None, scenarios=None, phases=None, indices=None
) -> list[ModelTask]:
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
                        chosen.append(ModelTask(task.id, scenario.id, phase, index))
    return chosen


def config_key(scenario: ScenarioSpec, fingerprint: str) -> str:
    """A content hash of everything besides the seeds that determines a scenario's models.

    A finished model whose stored key differs from the current one is *stale*: the preset, the
    dataset or the generator changed since it was trained.
    """
    payload = {
        "scenario": asdict(scenario),
        "dataset": fingerprint,
        "code": __version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def write_lines(path: Path, values: np.ndarray) -> None:
    """One integer per line: the index and solution files participants read without any PRNG."""
    path.write_text("".join(f"{int(v)}\n" for v in values), encoding="ascii")


def read_lines(path: Path) -> np.ndarray:
    return np.asarray([int(x) for x in path.read_text(encoding="ascii").split()], dtype=np.int64)


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
    write_lines(directory / "challenge_indices.csv", split.challenge)
    write_lines(directory / "training_indices.csv", split.training)
    write_lines(directory / "solution.csv", split.membership)
    for role, filename in SEED_FILES.items():
        (directory / filename).write_text(seeds[role] + "\n", encoding="ascii")


def is_finished(path: Path) -> bool:
    return (path / "metadata.json").is_file()


def sweep_partial(store: Path) -> list[Path]:
    """Remove temporary model directories left by interrupted runs; return what was removed."""
    removed = []
    if not store.is_dir():
        return removed
    for tmp in store.glob(f"*/*/*/{TMP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def run_model_task(context: GenerationContext, task: ModelTask) -> str:
    """Train and store one model; return ``"done"`` or ``"skipped"`` (already finished).

    Pure and idempotent: the result depends only on the preset, the dataset, the seeds and the
    task's identity, and nothing becomes visible under the final name until it is complete.
    """
    from .presets import load_preset
    from .training import pick_device, train_model

    store = Path(context.store)
    final = task.path(store)
    if is_finished(final):
        return "skipped"
    preset = load_preset(context.preset_path)
    scenario = preset.task(task.task).scenario(task.scenario)
    data_dir = Path(context.data_dir) if context.data_dir else None
    data = load_dataset(scenario.dataset, data_dir, scenario.model)
    seeds = model_seeds(context.master_seed, task.task, task.scenario, task.phase, task.index)
    split = make_split(
        len(data),
        scenario.n,
        scenario.m,
        seeds["challenge"],
        seeds["membership"],
        seeds["training"],
    )
    training_seed = torch_seed(seeds["train_run"]) if context.master_seed else secrets.randbits(63)
    trained = train_model(
        scenario, data, split.training, split.evaluation, training_seed,
        pick_device(context.device), data_dir, context.show_progress, str(task),
    )  # fmt: skip
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{task.name}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        save_weights(trained.model, data, tmp)
        write_split(tmp, split, seeds)
        metadata = {
            "task": task.task, "phase": task.phase, "model": task.name,
            "architecture": scenario.model, "dataset": scenario.dataset_name,
            "n": scenario.n, "m": scenario.m, **trained.metadata,
        }  # fmt: skip
        write_json(tmp / "metadata.json", metadata)
        private = {
            "config_key": config_key(scenario, dataset_fingerprint(data)),
            "seed_mode": "master" if context.master_seed else "secure",
            # Secure mode keeps no training seed at all: nobody can replay the DP noise.
            "training_seed": training_seed if context.master_seed else None,
        }
        write_json(tmp / "private.json", private)
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
