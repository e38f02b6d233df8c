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
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .architectures import input_shape, num_classes
from .archspec import find
from .datasets import KNOWN_KINDS, Points, TaskDataset, load_local, load_shipped
from .errors import DataError, OptionError
from .layout import (
    CHALLENGE_FILE,
    DATA_DIR,
    MANIFEST_FILE,
    METADATA_FILE,
    NONCHALLENGE_FILE,
    PUBLIC_FORMAT,
    SOLUTION_FILE,
    TRAINING_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    parse_indices,
)

EVAL_BATCH = 512
DEVICE_TYPES = ("cpu", "cuda", "mps")
# The scorer's rule for names that become paths: no '/', no leading '.', so never '..'.
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
PLAIN_HINT = "letters, digits and '_.+-', not starting with '.'"


def read_indices(path: Path) -> np.ndarray:
    """One integer per line (index and solution files)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return parse_indices(path.read_text(encoding="ascii"))
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"{path}: expected one integer per line") from None


def first_line(error: BaseException) -> str:
    """An exception as one line: its first line, or its type when it has no message."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def pick_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: the first GPU when there is one, else the CPU.

    Anything else must name a device this machine has; OptionError otherwise, so that a typo
    or a missing GPU is reported before any model is loaded rather than as a torch traceback.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    hint = "auto, cpu, cuda, cuda:1, mps"
    try:
        chosen = device if isinstance(device, torch.device) else torch.device(str(device))
    except (RuntimeError, ValueError):
        raise OptionError(f"device {device!r} is not a device name (use {hint})") from None
    if chosen.type not in DEVICE_TYPES:
        raise OptionError(f"device {device!r} is not supported (use {hint})")
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise OptionError(f"device {device!r}: this machine has no usable CUDA GPU (use cpu)")
        if chosen.index is not None and chosen.index >= count:
            raise OptionError(f"device {device!r}: this machine has {count} CUDA GPU(s)")
    if chosen.type == "mps" and not torch.backends.mps.is_available():
        raise OptionError(f"device {device!r}: MPS is not available on this machine (use cpu)")
    return chosen


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
    def weights(self) -> str:
        """What each model folder holds: WEIGHTS_FILE (a safetensors state dict of a module
        micokit builds) or WEIGHTS_DIR (a transformers save_pretrained folder)."""
        spec = find(self.architecture)
        return spec.weights if spec is not None else WEIGHTS_FILE

    @property
    def dataset_kind(self) -> str | None:
        """The dataset's kind (``cifar10``, ``sst2``, ``purchase100``, ...), stated or guessed."""
        for source in (self.raw, self.raw.get("dataset_settings") or {}):
            for key in ("dataset_kind", "kind"):
                if isinstance(source.get(key), str):
                    return source[key]
        return self.dataset if self.dataset in KNOWN_KINDS else None


def is_plain_name(value: Any) -> bool:
    """A string that is safe as one path component (what the scorer accepts as a name)."""
    return isinstance(value, str) and PLAIN_NAME.fullmatch(value) is not None


def _plain(value: Any, what: str) -> str:
    if not is_plain_name(value):
        raise DataError(f"{what} {value!r} is not a plain name ({PLAIN_HINT})")
    return value


def _is_number(value: Any) -> bool:
    """A JSON number: int or float but not bool (True would pass as 1), and finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DataError(f"{what} must be a positive integer, not {value!r}")
    return value


def _scenario(raw: Any, position: int, where: Path) -> Scenario:
    """One manifest scenario, type-checked here: its names become paths and its numbers array
    sizes, so a damaged manifest must fail now with its own name, not later as a traceback."""
    required = ("id", "epsilon", "delta", "dataset", "n", "m", "architecture", "models")
    if not isinstance(raw, dict) or any(key not in raw for key in required):
        raise DataError(f"{where}: scenario {position} lacks one of {', '.join(required)}")
    sid = _plain(raw["id"], f"{where}: scenario {position} id")
    what = f"{where}: scenario {sid!r}:"
    epsilon = raw["epsilon"]
    if epsilon is not None and (not _is_number(epsilon) or epsilon <= 0):
        raise DataError(
            f"{what} epsilon must be a positive number or null (ε = ∞), not {epsilon!r}"
        )
    delta = raw["delta"]
    if not _is_number(delta) or not 0 <= delta < 1:
        raise DataError(f"{what} delta must be a number in [0, 1), not {delta!r}")
    n, m = _count(raw["n"], f"{what} n"), _count(raw["m"], f"{what} m")
    if m > n:
        raise DataError(f"{what} m = {m} members cannot exceed the training set size n = {n}")
    architecture = raw["architecture"]
    if not isinstance(architecture, dict) or not isinstance(architecture.get("arch"), str):
        raise DataError(f"{what} 'architecture' must be an object with a string 'arch'")
    noise = raw.get("noise_multiplier")
    if noise is not None and not _is_number(noise):
        raise DataError(f"{what} noise_multiplier must be a number or null, not {noise!r}")
    return Scenario(
        id=sid,
        position=position,
        label=str(raw.get("label", sid)),
        epsilon=None if epsilon is None else float(epsilon),
        delta=float(delta),
        dataset=_plain(raw["dataset"], f"{what} dataset"),
        n=n,
        m=m,
        architecture=dict(architecture),
        noise_multiplier=noise,
        models=_models(raw["models"], what),
        raw=raw,
    )


def _models(models: Any, what: str) -> dict[str, tuple[str, ...]]:
    """Phase -> model names: plain, distinct names, since each becomes a folder."""
    if not isinstance(models, dict) or any(not isinstance(v, list) for v in models.values()):
        raise DataError(f"{what} 'models' must map phases to lists")
    for phase, names in models.items():
        _plain(phase, f"{what} phase")
        for name in names:
            _plain(name, f"{what} {phase} model")
        if len(set(names)) != len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise DataError(f"{what} {phase} model {twice!r} is listed twice")
    return {phase: tuple(names) for phase, names in models.items()}


def state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, Any]) -> str | None:
    """The first difference between two state dicts, in words; None when they fit.

    torch's own message starts with a line that names no tensor; this one names one.
    """
    for name, tensor in expected.items():
        if name not in found:
            return f"tensor {name!r} is missing"
        if tuple(found[name].shape) != tuple(tensor.shape):
            shape = "×".join(map(str, found[name].shape)) or "scalar"
            wanted = "×".join(map(str, tensor.shape)) or "scalar"
            return f"tensor {name!r} is {shape}, the architecture needs {wanted}"
    extra = [name for name in found if name not in expected]
    return f"unexpected tensor {extra[0]!r}" if extra else None


def loading_problem(info: Mapping[str, Any]) -> str | None:
    """transformers' loading report in words, or None when every tensor was loaded.

    transformers only logs (and micokit silences) missing or mis-sized tensors, and starts
    them at random: a model that would score nonsense without any error.
    """

    def shape(size: Any) -> str:
        return "×".join(map(str, size))

    mismatched = sorted(info.get("mismatched_keys") or (), key=str)
    if mismatched:
        entry, count = mismatched[0], len(mismatched)
        if isinstance(entry, tuple) and len(entry) == 3:
            name, saved, wanted = entry
            return (
                f"tensor {name!r} is {shape(saved)} in the weights, the config makes it "
                f"{shape(wanted)}; {count} tensor(s) differ"
            )
        return f"{count} tensor(s) differ in shape, first {entry!r}"
    missing = sorted(info.get("missing_keys") or ())
    if missing:
        return f"the weights lack tensor {missing[0]!r} ({len(missing)} missing in all)"
    return None


class LoadedModel:
    """A target model ready for inference: the module, its device and (text) its tokenizer."""

    def __init__(
        self,
        module: torch.nn.Module,
        device: torch.device,
        tokenizer=None,
        max_length: int | None = None,
    ) -> None:
        self.module = module.to(device).eval()
        self.device = device
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, sentences: list[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention masks as the model was trained on them (text only)."""
        if self.tokenizer is None:
            raise DataError("encode() is for text models; this model takes feature tensors")
        return self.tokenizer(
            sentences,
            max_length=self.max_length,
            truncation=True,
            padding="longest",
            return_tensors="pt",
        )

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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise OptionError(f"batch size must be a positive integer, not {batch_size!r}")
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

    def _sized(self, name: str, expected: int, meaning: str) -> np.ndarray:
        """An index file that must hold ``expected`` values (a count the manifest states)."""
        path = self.path / name
        values = read_indices(path)
        if len(values) != expected:
            raise DataError(
                f"{path}: {len(values)} values, expected {meaning} = {expected} "
                f"(from {self.task.manifest_path})"
            )
        return values

    @cached_property
    def challenge_indices(self) -> np.ndarray:
        """The 2m dataset indices of the challenge points, in challenge order."""
        return self._sized(CHALLENGE_FILE, 2 * self.scenario.m, "2m")

    @cached_property
    def membership(self) -> np.ndarray | None:
        """1 = member, per challenge point in challenge order; ``train`` models only.

        Exactly m ones and m zeros: the scorer's metrics need both classes, and anything else
        means the file is not this scenario's solution.
        """
        if self.phase != "train":
            return None
        labels = self._sized(SOLUTION_FILE, 2 * self.scenario.m, "2m")
        path = self.path / SOLUTION_FILE
        odd = labels[(labels != 0) & (labels != 1)]
        if odd.size:
            raise DataError(f"{path}: value {int(odd[0])}; expected 0 or 1 (1 = member)")
        if int(labels.sum()) != self.scenario.m:
            raise DataError(
                f"{path}: {int(labels.sum())} members, expected m = {self.scenario.m} "
                f"(from {self.task.manifest_path})"
            )
        return labels

    @cached_property
    def training_indices(self) -> np.ndarray | None:
        """The full training set (members and other points); ``train`` models only."""
        if self.phase != "train":
            return None
        return self._sized(TRAINING_FILE, self.scenario.n, "n")

    @cached_property
    def nonchallenge_training_indices(self) -> np.ndarray | None:
        """Training points that are not challenge points: disclosed for the DP distinguisher."""
        if self.training_indices is not None:
            return np.setdiff1d(self.training_indices, self.challenge_indices)
        if not (self.path / NONCHALLENGE_FILE).is_file():
            return None
        return self._sized(NONCHALLENGE_FILE, self.scenario.n - self.scenario.m, "n - m")

    def check(self, training: bool = True) -> None:
        """Read this model's index files now and check them against the manifest and dataset.

        The attacks call it for every model before loading any, so that a damaged file fails
        at once, naming itself, instead of as an IndexError after many models ran. With
        ``training`` (what LiRA's shadows need) a train model's training set is checked too,
        and must contain exactly its members among the challenge points.
        """
        dataset = self.task.dataset(self.scenario)
        dataset.check_indices(self.challenge_indices, self.path / CHALLENGE_FILE)
        if self.phase != "train":
            return
        members = self.membership
        if not training:
            return
        dataset.check_indices(self.training_indices, self.path / TRAINING_FILE)
        trained = np.isin(self.challenge_indices, self.training_indices).astype(np.int64)
        if not np.array_equal(trained, members):
            k = int(np.flatnonzero(trained != members)[0])
            raise DataError(
                f"{self.path / SOLUTION_FILE}: line {k + 1} says {int(members[k])}, but "
                f"{TRAINING_FILE} {'has' if trained[k] else 'lacks'} that challenge point"
            )

    @cached_property
    def metadata(self) -> dict[str, Any]:
        path = self.path / METADATA_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"{path}: cannot read ({error})") from None

    def challenge_points(self) -> Points:
        """The challenge points (inputs and true labels), in challenge order."""
        dataset = self.task.dataset(self.scenario)
        return dataset.points(self.challenge_indices, self.path / CHALLENGE_FILE)

    def build_architecture(self) -> torch.nn.Module:
        """A freshly initialised network of the scenario's architecture, or a DataError naming
        the manifest (an architecture micokit cannot build is the manifest's problem)."""
        from .architectures import build_model

        try:
            return build_model(self.scenario.architecture)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise DataError(
                f"{self.task.manifest_path}: scenario {self.scenario.id!r}: its architecture "
                f"cannot be built ({type(error).__name__}: {first_line(error)})"
            ) from None

    def load(self, device: str | torch.device | None = "cpu") -> LoadedModel:
        """The network in eval mode on ``device`` (``"auto"``: GPU when available)."""
        device = pick_device(device)
        if self.scenario.weights == WEIGHTS_DIR:
            return self._load_roberta(device)
        from safetensors.torch import load_file

        path = self.path / WEIGHTS_FILE
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        module = self.build_architecture()
        try:
            weights = load_file(str(path))
        except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
            raise DataError(
                f"{path}: not a readable safetensors file ({first_line(error)})"
            ) from None
        problem = state_mismatch(module.state_dict(), weights)
        if problem:
            raise DataError(f"{path}: weights do not fit the manifest's architecture ({problem})")
        module.load_state_dict(weights)
        return LoadedModel(module, device)

    def _load_roberta(self, device: torch.device) -> LoadedModel:
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise DataError("text tasks need transformers: pip install 'micokit[text]'") from None
        folder = self.path / WEIGHTS_DIR
        if not (folder / "config.json").is_file():
            raise DataError(f"{folder}: no config.json (expected a save_pretrained folder)")
        self._check_text_config(folder / "config.json")
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:  # mismatched sizes are reported in ``info`` (below), not as a bare RuntimeError
            module, info = AutoModelForSequenceClassification.from_pretrained(
                str(folder),
                local_files_only=True,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
            )
        except Exception as error:  # noqa: BLE001 - transformers raises OSError, ValueError, ...
            raise DataError(
                f"{folder}: cannot load the model ({type(error).__name__}: {first_line(error)})"
            ) from None
        problem = loading_problem(info)
        if problem:
            raise DataError(f"{folder}: model.safetensors does not fit config.json ({problem})")
        tokenizer = self.task.tokenizer(folder, AutoTokenizer)
        max_length = self.scenario.max_length
        if max_length is None:  # RoBERTa positions start after the padding index (2 slots)
            max_length = int(module.config.max_position_embeddings) - 2
        return LoadedModel(module, device, tokenizer, max_length)

    def _check_text_config(self, path: Path) -> None:
        """config.json must agree with the manifest's ``architecture.config`` where both speak.

        Weights saved for another size make transformers fail with a message that points at a
        log it has just silenced; comparing the sizes first names the file and the field.
        """
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise DataError(f"{path}: not valid JSON ({first_line(error)})") from None
        if not isinstance(saved, dict):
            raise DataError(f"{path}: expected a JSON object (a transformers config)")
        wanted = self.scenario.architecture.get("config")
        for key, value in (wanted if isinstance(wanted, dict) else {}).items():
            if key in saved and saved[key] != value:
                raise DataError(
                    f"{path}: {key} is {saved[key]!r}, but the manifest's architecture says "
                    f"{value!r}; is this the model of scenario {self.scenario.id!r}?"
                )


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
        where = self.root / MANIFEST_FILE
        if not isinstance(self.manifest.get("scenarios"), list) or not self.manifest["scenarios"]:
            raise DataError(f"{where}: 'scenarios' must be a non-empty list")
        self.id = _plain(self.manifest.get("task", self.root.name), f"{where}: task")
        self.title = self.manifest.get("title", self.id)
        self.disclose_training = bool(self.manifest.get("disclose_training", False))
        self.scenarios = [
            _scenario(s, k, where) for k, s in enumerate(self.manifest["scenarios"], 1)
        ]
        for k, scenario in enumerate(self.scenarios):
            if scenario.id in [s.id for s in self.scenarios[:k]]:
                raise DataError(f"{where}: scenario {k + 1} repeats id {scenario.id!r}")
        self._datasets: dict[str, TaskDataset] = dict(datasets or {})
        self._dataset_paths = {k: Path(v) for k, v in (dataset_paths or {}).items()}
        self._tokenizers: dict[str, Any] = {}
        self._fitted: set[tuple[str, str]] = set()  # (dataset, scenario) checked by _check_fit

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_FILE

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
            known = ", ".join(scenario.models) or "none"
            raise DataError(
                f"{self.manifest_path}: scenario {scenario.id!r} lists no {phase!r} models "
                f"(phases: {known})"
            )
        return [ModelRef(self, scenario, phase, name) for name in scenario.models[phase]]

    def dataset(self, scenario: str | Scenario) -> TaskDataset:
        """The scenario's dataset, loaded once per task and checked against its architecture."""
        scenario = self.scenario(scenario)
        name = scenario.dataset
        if name not in self._datasets:
            self._datasets[name] = self._load_dataset(scenario)
        if (name, scenario.id) not in self._fitted:
            self._check_fit(self._datasets[name], scenario)
            self._fitted.add((name, scenario.id))
        return self._datasets[name]

    def _check_fit(self, dataset: TaskDataset, scenario: Scenario) -> None:
        """Labels and inputs the scenario's models can take, else DataError naming the data.

        Without this a label beyond the model's classes or an input of the wrong shape shows
        up as a torch RuntimeError deep inside an attack.
        """
        source = dataset.source or f"dataset {dataset.name!r}"
        arch = scenario.architecture.get("arch")
        against = f"the {arch} model of scenario {scenario.id!r} ({self.manifest_path})"
        spec = find(scenario.architecture)
        text = spec is not None and spec.text
        if text != (dataset.sentences is not None):
            holds = "sentences" if dataset.sentences is not None else "feature arrays"
            raise DataError(f"{source}: holds {holds}, which {against} cannot take")
        classes = num_classes(scenario.architecture)
        labels = dataset.labels
        if _is_number(classes) and len(labels) and (labels.min() < 0 or labels.max() >= classes):
            bad = int(labels.min() if labels.min() < 0 else labels.max())
            raise DataError(f"{source}: label {bad} is outside the {classes} classes of {against}")
        shape = input_shape(scenario.architecture)
        if text or shape is None or not all(_is_number(v) for v in shape):
            return  # an architecture the kit cannot build fails, with its reason, when loaded
        if tuple(dataset.features.shape[1:]) != tuple(shape):
            found = "×".join(map(str, dataset.features.shape[1:]))
            wanted = "×".join(map(str, shape))
            raise DataError(f"{source}: inputs are {found} per point, but {against} takes {wanted}")

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
        shipped = self.root / DATA_DIR / name
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
        slow = (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
        if not (folder / "tokenizer.json").is_file() and not slow:
            raise DataError(f"{folder}: no tokenizer.json (nor vocab.json and merges.txt)")
        if key not in self._tokenizers:
            try:
                self._tokenizers[key] = loader.from_pretrained(str(folder), local_files_only=True)
            except Exception as error:  # noqa: BLE001 - transformers raises OSError, ValueError, ...
                raise DataError(
                    f"{folder}: cannot load the tokenizer ({type(error).__name__}: "
                    f"{first_line(error)})"
                ) from None
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
    path = folder / MANIFEST_FILE
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
    if (root / MANIFEST_FILE).is_file():
        return root
    if task is not None:
        if (root / task / MANIFEST_FILE).is_file():
            return root / task
        raise DataError(f"{root / task / MANIFEST_FILE}: not found; is {root} the data folder?")
    found = sorted(p.parent.name for p in root.glob(f"*/{MANIFEST_FILE}"))
    if len(found) == 1:
        return root / found[0]
    if not found:
        raise DataError(f"{root}: no <task>/manifest.json inside; is it the unzipped data folder?")
    raise DataError(f"{root} holds several tasks ({', '.join(found)}); choose one with --task")
