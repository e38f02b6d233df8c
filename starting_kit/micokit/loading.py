"""Open a task's public tree: manifest, scenarios in order, phases, models, challenge points.

Layout (docs/layouts.md)::

    <root>/<task>/manifest.json
    <root>/<task>/data/<dataset>/...                      (demo presets only)
    <root>/<task>/<scenario>/<phase>/model_<i>/...

Typical use::

    task = open_task("data", "image")
    for scenario in task.scenarios:
        for ref in task.models(scenario, "dev"):
            model = ref.load(device="cpu")
            logits = model.logits(ref.challenge_points())

Everything is read lazily and from local files only; nothing downloads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .datasets import KNOWN_KINDS, Points, TaskDataset, load_local, load_shipped
from .errors import DataError

PUBLIC_FORMAT = "mico-public/1"
PHASES = ("train", "dev", "final")
NONCHALLENGE_FILE = "nonchallenge_training_indices.csv"
EVAL_BATCH = 512


def read_indices(path: Path) -> np.ndarray:
    """One integer per line (index and solution files)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return np.asarray([int(x) for x in path.read_text(encoding="ascii").split()], np.int64)
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: expected one integer per line") from None


def pick_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: the first GPU when there is one, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True)
class Scenario:
    """One scenario of the manifest; ``position`` is k in the scorer's ``scenario<k>_`` keys."""

    id: str
    position: int
    label: str
    epsilon: float | None  # None means ε = ∞
    delta: float
    dataset: str
    n: int
    m: int
    architecture: dict[str, Any]
    noise_multiplier: float | None
    models: dict[str, tuple[str, ...]]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_dp(self) -> bool:
        return self.epsilon is not None

    @property
    def max_length(self) -> int | None:
        """Tokens per sentence for text models, when the manifest states it."""
        for source in (self.raw, self.raw.get("dataset_settings") or {}):
            if isinstance(source.get("max_length"), int):
                return source["max_length"]
        return None

    @property
    def dataset_kind(self) -> str | None:
        """The dataset's kind (``cifar10``, ``sst2``, ``purchase100``, ...), stated or guessed."""
        for source in (self.raw, self.raw.get("dataset_settings") or {}):
            for key in ("dataset_kind", "kind"):
                if isinstance(source.get(key), str):
                    return source[key]
        return self.dataset if self.dataset in KNOWN_KINDS else None


def _scenario(raw: Any, position: int, where: Path) -> Scenario:
    required = ("id", "epsilon", "delta", "dataset", "n", "m", "architecture", "models")
    if not isinstance(raw, dict) or any(key not in raw for key in required):
        raise DataError(f"{where}: scenario {position} lacks one of {', '.join(required)}")
    models = raw["models"]
    if not isinstance(models, dict) or any(not isinstance(v, list) for v in models.values()):
        raise DataError(f"{where}: scenario {raw['id']!r}: 'models' must map phases to lists")
    return Scenario(
        id=raw["id"], position=position, label=raw.get("label", raw["id"]),
        epsilon=None if raw["epsilon"] is None else float(raw["epsilon"]),
        delta=float(raw["delta"]), dataset=raw["dataset"], n=int(raw["n"]), m=int(raw["m"]),
        architecture=dict(raw["architecture"]), noise_multiplier=raw.get("noise_multiplier"),
        models={phase: tuple(names) for phase, names in models.items()}, raw=raw,
    )  # fmt: skip


class LoadedModel:
    """A target model ready for inference: the module, its device and (text) its tokenizer."""

    def __init__(self, module: torch.nn.Module, device: torch.device, tokenizer=None,
                 max_length: int | None = None) -> None:  # fmt: skip
        self.module = module.to(device).eval()
        self.device = device
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, sentences: list[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention masks as the model was trained on them (text only)."""
        if self.tokenizer is None:
            raise DataError("encode() is for text models; this model takes feature tensors")
        return self.tokenizer(
            sentences, max_length=self.max_length, truncation=True, padding="longest",
            return_tensors="pt",
        )  # fmt: skip

    def forward(self, points: Points, start: int, stop: int) -> torch.Tensor:
        """Logits of ``points[start:stop]`` on this model's device (gradients allowed)."""
        if points.sentences is not None:
            batch = self.encode(points.sentences[start:stop])
            return self.module(
                input_ids=batch["input_ids"].to(self.device),
                attention_mask=batch["attention_mask"].to(self.device),
            ).logits
        return self.module(points.features[start:stop].to(self.device))

    def logits(self, points: Points, batch_size: int = EVAL_BATCH) -> torch.Tensor:
        """Logits of every point, in order, as a float32 CPU tensor (no gradients)."""
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(points), batch_size):
                chunks.append(self.forward(points, start, start + batch_size).float().cpu())
        if not chunks:
            return torch.zeros((0, 0))
        return torch.cat(chunks)


class ModelRef:
    """One published model: its files, index lists and (on demand) the loaded network."""

    def __init__(self, task: Task, scenario: Scenario, phase: str, name: str) -> None:
        self.task = task
        self.scenario = scenario
        self.phase = phase
        self.name = name
        self.path = task.root / scenario.id / phase / name

    def __repr__(self) -> str:
        return f"ModelRef({self.task.id}/{self.scenario.id}/{self.phase}/{self.name})"

    @cached_property
    def challenge_indices(self) -> np.ndarray:
        """The 2m dataset indices of the challenge points, in challenge order."""
        return read_indices(self.path / "challenge_indices.csv")

    @cached_property
    def membership(self) -> np.ndarray | None:
        """1 = member, per challenge point in challenge order; ``train`` models only."""
        if self.phase != "train":
            return None
        return read_indices(self.path / "solution.csv")

    @cached_property
    def training_indices(self) -> np.ndarray | None:
        """The full training set (members and other points); ``train`` models only."""
        if self.phase != "train":
            return None
        return read_indices(self.path / "training_indices.csv")

    @cached_property
    def nonchallenge_training_indices(self) -> np.ndarray | None:
        """Training points that are not challenge points: disclosed for the DP distinguisher."""
        if self.training_indices is not None:
            return np.setdiff1d(self.training_indices, self.challenge_indices)
        path = self.path / NONCHALLENGE_FILE
        return read_indices(path) if path.is_file() else None

    @cached_property
    def metadata(self) -> dict[str, Any]:
        path = self.path / "metadata.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot read ({error})") from None

    def challenge_points(self) -> Points:
        """The challenge points (inputs and true labels), in challenge order."""
        return self.task.dataset(self.scenario).points(self.challenge_indices)

    def load(self, device: str | torch.device | None = "cpu") -> LoadedModel:
        """The network in eval mode on ``device`` (``"auto"``: GPU when available)."""
        device = pick_device(device)
        if self.scenario.architecture.get("arch") == "roberta":
            return self._load_roberta(device)
        from safetensors.torch import load_file

        from .architectures import build_model

        path = self.path / "model.safetensors"
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        module = build_model(self.scenario.architecture)
        try:
            module.load_state_dict(load_file(str(path)))
        except Exception as error:  # noqa: BLE001 - safetensors and torch raise various types
            raise DataError(
                f"{path}: weights do not fit the manifest's architecture ({error})"
            ) from None
        return LoadedModel(module, device)

    def _load_roberta(self, device: torch.device) -> LoadedModel:
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise DataError("text tasks need transformers: pip install 'micokit[text]'") from None
        folder = self.path / "model"
        if not (folder / "config.json").is_file():
            raise DataError(f"{folder}: no config.json (expected a save_pretrained folder)")
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        module = AutoModelForSequenceClassification.from_pretrained(
            str(folder), local_files_only=True
        )
        tokenizer = self.task.tokenizer(folder, AutoTokenizer)
        max_length = self.scenario.max_length
        if max_length is None:  # RoBERTa positions start after the padding index (2 slots)
            max_length = int(module.config.max_position_embeddings) - 2
        return LoadedModel(module, device, tokenizer, max_length)


class Task:
    """A task's public tree: its manifest, its scenarios in order and their models.

    ``datasets`` maps a manifest dataset name to an already loaded :class:`TaskDataset`;
    ``dataset_paths`` maps it to the participant's local copy of a real dataset. Otherwise the
    data shipped under ``<task>/data/<name>/`` are used.
    """

    def __init__(
        self,
        root: Path,
        manifest: Mapping[str, Any],
        datasets: Mapping[str, TaskDataset] | None = None,
        dataset_paths: Mapping[str, Path] | None = None,
    ) -> None:
        self.root = Path(root)
        self.manifest = dict(manifest)
        where = self.root / "manifest.json"
        if not isinstance(self.manifest.get("scenarios"), list) or not self.manifest["scenarios"]:
            raise DataError(f"{where}: 'scenarios' must be a non-empty list")
        self.id = str(self.manifest.get("task", self.root.name))
        self.title = self.manifest.get("title", self.id)
        self.disclose_training = bool(self.manifest.get("disclose_training", False))
        self.scenarios = [
            _scenario(s, k, where) for k, s in enumerate(self.manifest["scenarios"], 1)
        ]
        self._datasets: dict[str, TaskDataset] = dict(datasets or {})
        self._dataset_paths = {k: Path(v) for k, v in (dataset_paths or {}).items()}
        self._tokenizers: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Task({self.id!r}, scenarios={[s.id for s in self.scenarios]})"

    def scenario(self, scenario: str | Scenario) -> Scenario:
        if isinstance(scenario, Scenario):
            return scenario
        for item in self.scenarios:
            if item.id == scenario:
                return item
        known = ", ".join(s.id for s in self.scenarios)
        raise DataError(f"task {self.id!r} has no scenario {scenario!r} (known: {known})")

    def models(self, scenario: str | Scenario, phase: str) -> list[ModelRef]:
        """The models of one scenario and phase, in manifest order."""
        scenario = self.scenario(scenario)
        if phase not in scenario.models:
            raise DataError(f"scenario {scenario.id!r} has no phase {phase!r}")
        return [ModelRef(self, scenario, phase, name) for name in scenario.models[phase]]

    def dataset(self, scenario: str | Scenario) -> TaskDataset:
        """The scenario's dataset, loaded once per task."""
        scenario = self.scenario(scenario)
        name = scenario.dataset
        if name not in self._datasets:
            self._datasets[name] = self._load_dataset(scenario)
        return self._datasets[name]

    def _load_dataset(self, scenario: Scenario) -> TaskDataset:
        name = scenario.dataset
        if name in self._dataset_paths:
            kind = scenario.dataset_kind
            if kind is None:
                raise DataError(
                    f"the manifest does not say which kind of dataset {name!r} is, so a local "
                    f"copy cannot be read (known kinds: {', '.join(KNOWN_KINDS)})"
                )
            return load_local(kind, self._dataset_paths[name])
        shipped = self.root / "data" / name
        if shipped.is_dir():
            return load_shipped(shipped)
        hint = f"--dataset {name}=PATH" if len(self.dataset_names) > 1 else "--dataset PATH"
        raise DataError(
            f"dataset {name!r} is not shipped in {self.root / 'data'}; give your local copy "
            f"({hint}, or dataset_paths={{{name!r}: PATH}})"
        )

    @property
    def dataset_names(self) -> list[str]:
        return list(dict.fromkeys(s.dataset for s in self.scenarios))

    def tokenizer(self, folder: Path, loader):
        """A model's tokenizer, shared between models whose tokenizer files are identical."""
        digest = hashlib.sha256()
        for name in sorted(
            p.name
            for p in folder.iterdir()
            if "token" in p.name or "vocab" in p.name or "merges" in p.name
        ):
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
        key = digest.hexdigest()
        if key not in self._tokenizers:
            self._tokenizers[key] = loader.from_pretrained(str(folder), local_files_only=True)
        return self._tokenizers[key]


def open_task(
    root: str | Path,
    task: str | None = None,
    dataset_paths: Mapping[str, str | Path] | None = None,
) -> Task:
    """Open ``<root>/<task>/`` (or ``root`` itself when it holds manifest.json).

    ``task`` may be omitted when ``root`` holds a single task. ``dataset_paths`` maps dataset
    names from the manifest (``cifar10``, ``sst2``, ``purchase100``) to your local copies.
    """
    root = Path(root).expanduser()
    if root.is_file():
        if root.suffix == ".zip":
            raise DataError(f"{root} is a zip file; unzip it first and pass the folder it creates")
        raise DataError(f"{root} is a file; expected the folder that holds the task folder")
    if not root.is_dir():
        raise DataError(f"{root}: no such directory")
    folder = _task_folder(root, task)
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PUBLIC_FORMAT:
        raise DataError(f"{path}: not a public task manifest (format {PUBLIC_FORMAT!r} expected)")
    if task is not None and manifest.get("task") != task:
        raise DataError(f"{path}: describes task {manifest.get('task')!r}, not {task!r}")
    return Task(folder, manifest, dataset_paths=_dataset_paths(dataset_paths))


def _dataset_paths(paths: Mapping[str, str | Path] | None) -> dict[str, Path]:
    return {name: Path(p).expanduser() for name, p in (paths or {}).items()}


def _task_folder(root: Path, task: str | None) -> Path:
    if (root / "manifest.json").is_file():
        return root
    if task is not None:
        if (root / task / "manifest.json").is_file():
            return root / task
        raise DataError(f"{root / task / 'manifest.json'}: not found; is {root} the data folder?")
    found = sorted(p.parent.name for p in root.glob("*/manifest.json"))
    if len(found) == 1:
        return root / found[0]
    if not found:
        raise DataError(f"{root}: no <task>/manifest.json inside; is it the unzipped data folder?")
    raise DataError(f"{root} holds several tasks ({', '.join(found)}); choose one with --task")
