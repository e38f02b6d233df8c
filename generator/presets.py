"""Presets: the one definition of tasks, scenarios, datasets, models and training settings.

A preset is a YAML file (``presets/<name>.yaml``). Everything else that names a task or a
scenario — competition.yaml columns, score keys, pages, reports — is rendered from the objects
built here (DESIGN principle 1). Loading validates the whole file up front so that a typo fails
before any model is trained, with one line naming the file and the offending key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .schedule import Schedule, ScheduleError, parse_schedule
from .splits import check_sizes

PHASES = ("train", "dev", "final")
SCORED_PHASES = PHASES[1:]  # what participants predict and the leaderboards score
PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
DATASET_KINDS = ("cifar10", "sst2", "purchase100", "digits", "synthetic_purchase", "synthetic_text")
ARCHS = ("cnn", "mlp", "roberta")
OPTIMIZERS = ("sgd", "adam")
GRAD_SAMPLE_MODES = ("ghost", "hooks")
EXECUTORS = ("inline", "local", "ray")
# Sizes of the official files; the loaders accept other sizes, and splits.check_sizes checks the
# real count again when a model is trained. Synthetic sets have the preset's own ``size``.
OFFICIAL_SIZES = {"cifar10": 60_000, "sst2": 68_221, "purchase100": 197_324, "digits": 1_797}
MODALITY = {
    "cifar10": "image", "digits": "image", "purchase100": "tabular", "synthetic_purchase": "tabular",
    "sst2": "text", "synthetic_text": "text",
}  # fmt: skip
ARCH_MODALITY = {"cnn": "image", "mlp": "tabular", "roberta": "text"}
# Constructor arguments of micokit.architectures.MicoCNN / MicoMLP (a test keeps them in step).
MODEL_KEYS = {
    "cnn": {"in_channels", "image_size", "channels", "conv1_kernel", "conv1_stride",
            "conv1_padding", "num_classes"},
    "mlp": {"in_features", "hidden", "num_classes"},
    "roberta": {"pretrained", "config", "public_pretraining"},
}  # fmt: skip
PUBLIC_PRETRAINING_KEYS = {"size", "seed", "epochs", "lr"}
# Ids name folders, archives and leaderboard columns: keep them to portable file-name characters.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")


class PresetError(ValueError):
    """A preset file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's data comes from; ``path`` is relative to the organizer's data directory."""

    kind: str
    path: str | None = None
    size: int | None = None  # synthetic sets only
    seed: int = 0  # synthetic sets and pixel noise
    label_noise: float = 0.08  # synthetic text only: fraction of flipped labels
    noise: float = 0.0  # digits only: fixed Gaussian pixel noise (see datasets.load_digits_images)
    max_length: int = 67  # text only: tokens per sentence
    vocab_size: int = 2000  # locally trained tokenizer only


@dataclass(frozen=True)
class TrainingSpec:
    """How one model is trained; DP fields are used only when the scenario has a finite ε."""

    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    momentum: float = 0.0
    weight_decay: float = 0.0
    lr_step_size: int | None = None  # epochs between StepLR decays; None = constant rate
    lr_gamma: float = 1.0
    max_grad_norm: float | None = None
    max_physical_batch_size: int | None = None
    grad_sample_mode: str = "ghost"


@dataclass(frozen=True)
class ScenarioSpec:
    """One column of the competition: a dataset, a model, a split and a privacy level."""

    id: str
    task: str
    label: str
    epsilon: float | None  # None means ε = ∞ (plain training, no Opacus)
    delta: float
    dataset_name: str
    dataset: DatasetSpec
    model: dict[str, Any]
    n: int
    m: int
    training: TrainingSpec

    @property
    def is_dp(self) -> bool:
        return self.epsilon is not None


@dataclass(frozen=True)
class TaskSpec:
    id: str
    title: str
    description: str
    scenarios: tuple[ScenarioSpec, ...]
    disclose_training: bool = False  # DP distinguisher: dev/final training sets are public

    def scenario(self, scenario_id: str) -> ScenarioSpec:
        for scenario in self.scenarios:
            if scenario.id == scenario_id:
                return scenario
        raise KeyError(scenario_id)


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    title: str
    models: dict[str, int]  # phase -> number of models per scenario
    tasks: tuple[TaskSpec, ...]
    device: str = "auto"
    executor: str = "local"
    publish_data: bool = False  # ship the dataset inside the participant archive
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    schedule: Schedule = field(default_factory=lambda: parse_schedule(None, Path("defaults")))

    def task(self, task_id: str) -> TaskSpec:
        for task in self.tasks:
            if task.id == task_id:
                return task
        known = ", ".join(t.id for t in self.tasks)
        raise PresetError(f"{self.path}: unknown task {task_id!r} (known: {known})")


# --------------------------------------------------------------------------- validation helpers


def _fail(path: Path, where: str, problem: str) -> PresetError:
    return PresetError(f"{path}: {where}: {problem}")


def _mapping(path: Path, where: str, value: Any, allowed: set[str], required: set[str]) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, where, f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(
            path, where, f"unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = sorted(required - set(value))
    if missing:
        raise _fail(path, where, f"missing required key {missing[0]!r}")
    return value


def _number(path: Path, where: str, value: Any, *, integer: bool = False, positive: bool = True):
    """Check a number and return it; ``1e-5`` is accepted although PyYAML reads it as a string."""
    ok_types = (int,) if integer else (int, float)
    if not integer and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, ok_types):
        kind = "an integer" if integer else "a number"
        raise _fail(path, where, f"expected {kind}, got {value!r}")
    if not math.isfinite(value) or (positive and value <= 0) or (not positive and value < 0):
        raise _fail(
            path,
            where,
            f"expected a {'positive' if positive else 'non-negative'} value, got {value!r}",
        )
    return value


def _flag(path: Path, where: str, value: Any) -> bool:
    # bool("false") is True: a quoted YAML boolean must not silently mean the opposite.
    if not isinstance(value, bool):
        raise _fail(path, where, f"expected true or false, got {value!r}")
    return value


def _identifier(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise _fail(path, where, f"expected an id of letters, digits, '_' and '-', got {value!r}")
    return value


def _choice(path: Path, where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(path, where, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _dataset(path: Path, where: str, raw: Any) -> DatasetSpec:
    allowed = {"kind", "path", "size", "seed", "max_length", "vocab_size", "noise", "label_noise"}
    raw = _mapping(path, where, raw, allowed, {"kind"})
    kind = _choice(path, f"{where}.kind", raw["kind"], DATASET_KINDS)
    if kind in ("cifar10", "sst2", "purchase100") and not isinstance(raw.get("path"), str):
        raise _fail(path, where, f"dataset kind {kind!r} needs a 'path' under the data directory")
    if kind.startswith("synthetic") and "size" not in raw:
        raise _fail(path, where, f"dataset kind {kind!r} needs a 'size'")
    values = dict(raw)
    for key in ("size", "max_length", "vocab_size"):
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], integer=True)
    if "seed" in raw:
        values["seed"] = _number(path, f"{where}.seed", raw["seed"], integer=True, positive=False)
    for key in ("noise", "label_noise"):
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], positive=False)
    if values.get("label_noise", 0) >= 0.5:
        raise _fail(
            path, f"{where}.label_noise", "must be below 0.5 (a fraction of flipped labels)"
        )
    return DatasetSpec(**values)


def _training(path: Path, where: str, raw: dict) -> TrainingSpec:
    allowed = {f.name for f in TrainingSpec.__dataclass_fields__.values()}
    raw = _mapping(path, where, raw, allowed, {"optimizer", "lr", "batch_size", "epochs"})
    _choice(path, f"{where}.optimizer", raw["optimizer"], OPTIMIZERS)
    _choice(
        path, f"{where}.grad_sample_mode", raw.get("grad_sample_mode", "ghost"), GRAD_SAMPLE_MODES
    )
    values = dict(raw)
    # None switches an optional feature off; the other keys always need a value.
    optional = {"max_grad_norm", "lr_step_size", "max_physical_batch_size"}
    for key in ("lr", "lr_gamma", "max_grad_norm"):
        if key in raw and not (key in optional and raw[key] is None):
            values[key] = _number(path, f"{where}.{key}", raw[key])
    for key in ("momentum", "weight_decay"):
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], positive=False)
    for key in ("batch_size", "epochs", "lr_step_size", "max_physical_batch_size"):
        if key in raw and not (key in optional and raw[key] is None):
            values[key] = _number(path, f"{where}.{key}", raw[key], integer=True)
    return TrainingSpec(**values)


def _model(path: Path, where: str, raw: Any, dataset: DatasetSpec) -> dict[str, Any]:
    if not isinstance(raw, dict) or "arch" not in raw:
        raise _fail(path, where, "expected a mapping with an 'arch' key")
    arch = _choice(path, f"{where}.arch", raw["arch"], ARCHS)
    if ARCH_MODALITY[arch] != MODALITY[dataset.kind]:
        problem = (
            f"{arch!r} models take {ARCH_MODALITY[arch]} data but dataset kind "
            f"{dataset.kind!r} holds {MODALITY[dataset.kind]} data"
        )
        raise _fail(path, f"{where}.arch", problem)
    _mapping(path, where, raw, MODEL_KEYS[arch] | {"arch"}, set())
    for key in MODEL_KEYS[arch] - {"pretrained", "config", "public_pretraining", "channels"}:
        if key in raw:
            _number(path, f"{where}.{key}", raw[key], integer=True, positive=key != "conv1_padding")
    if "channels" in raw:
        channels = raw["channels"]
        if not isinstance(channels, list) or len(channels) != 3:
            raise _fail(path, f"{where}.channels", f"expected a list of 3 widths, got {channels!r}")
        for i, width in enumerate(channels):
            _number(path, f"{where}.channels[{i}]", width, integer=True)
    if "pretrained" in raw and not isinstance(raw["pretrained"], str):
        raise _fail(path, f"{where}.pretrained", "expected a path under the data directory")
    if "config" in raw and not isinstance(raw["config"], dict):
        raise _fail(path, f"{where}.config", "expected a mapping of RobertaConfig arguments")
    if "public_pretraining" in raw:
        pre = _mapping(
            path, f"{where}.public_pretraining", raw["public_pretraining"],
            PUBLIC_PRETRAINING_KEYS, {"size", "seed", "epochs"},
        )  # fmt: skip
        for key in ("size", "epochs"):
            _number(path, f"{where}.public_pretraining.{key}", pre[key], integer=True)
        _number(path, f"{where}.public_pretraining.seed", pre["seed"], integer=True, positive=False)
        if "lr" in pre:
            _number(path, f"{where}.public_pretraining.lr", pre["lr"])
    return dict(raw)


def _sizes(path: Path, where: str, raw: dict, task_raw: dict, dataset: DatasetSpec):
    """n and m from the scenario or its task, checked against the dataset before any training."""
    values = []
    for key in ("n", "m"):
        value = raw.get(key, task_raw.get(key))
        if value is None:
            raise _fail(path, where, f"missing required key {key!r} (in the scenario or its task)")
        values.append(_number(path, f"{where}.{key}", value, integer=True))
    n, m = values
    size = dataset.size if dataset.kind.startswith("synthetic") else OFFICIAL_SIZES[dataset.kind]
    try:
        check_sizes(size, n, m)
    except ValueError as error:
        raise _fail(path, where, str(error)) from None
    return n, m


def _merge(base: dict | None, override: dict | None) -> dict:
    merged = dict(base or {})
    merged.update(override or {})
    return merged


def _default_label(epsilon: float | None) -> str:
    return "ε = ∞" if epsilon is None else f"ε = {epsilon:g}"


_SCENARIO_KEYS = {"id", "label", "epsilon", "delta", "training", "based_on", "model", "n", "m"}
_TASK_KEYS = {
    "id", "title", "description", "dataset", "model", "n", "m", "training", "scenarios",
    "disclose_training", "delta",
}  # fmt: skip
_PRESET_KEYS = {
    "name",
    "title",
    "models",
    "device",
    "executor",
    "publish_data",
    "datasets",
    "tasks",
    "delta",
    "competition",
}


def _scenario(path, where, raw, task_raw, task_id, datasets, defaults, known) -> ScenarioSpec:
    raw = _mapping(path, where, raw, _SCENARIO_KEYS, {"id"})
    _identifier(path, f"{where}.id", raw["id"])
    if "label" in raw and not isinstance(raw["label"], str):
        raise _fail(path, f"{where}.label", f"expected text, got {raw['label']!r}")
    if "based_on" in raw:  # DP distinguisher: same setup as a scenario of another task
        base = known.get(raw["based_on"])
        if base is None:
            raise _fail(path, f"{where}.based_on", f"no earlier scenario named {raw['based_on']!r}")
        extra = set(raw) - {"id", "label", "based_on"}
        if extra:
            raise _fail(
                path,
                where,
                f"'based_on' scenarios take only id and label, not {sorted(extra)[0]!r}",
            )
        return replace(base, id=raw["id"], task=task_id, label=raw.get("label", base.label))
    dataset_name = task_raw.get("dataset")
    if dataset_name not in datasets:
        raise _fail(
            path,
            f"tasks.{task_id}.dataset",
            f"unknown dataset {dataset_name!r} (define it under 'datasets')",
        )
    epsilon = raw.get("epsilon")
    if epsilon is not None:
        epsilon = _number(path, f"{where}.epsilon", epsilon)
    delta = raw.get("delta", task_raw.get("delta", defaults["delta"]))
    delta = _number(path, f"{where}.delta", delta)
    if delta >= 1:
        raise _fail(path, f"{where}.delta", f"δ must be below 1, got {delta}")
    training = _training(
        path, f"{where}.training", _merge(task_raw.get("training"), raw.get("training"))
    )
    if epsilon is not None and training.max_grad_norm is None:
        raise _fail(path, f"{where}.training", "a DP scenario needs 'max_grad_norm'")
    dataset = datasets[dataset_name]
    n, m = _sizes(path, where, raw, task_raw, dataset)
    model = _model(path, f"{where}.model", _merge(task_raw.get("model"), raw.get("model")), dataset)
    return ScenarioSpec(
        id=raw["id"], task=task_id, label=raw.get("label", _default_label(epsilon)),
        epsilon=None if epsilon is None else float(epsilon), delta=float(delta),
        dataset_name=dataset_name, dataset=dataset, model=model, n=n, m=m,
        training=training,
    )  # fmt: skip


def parse_preset(raw: Any, path: Path) -> Preset:
    """Validate a preset's parsed YAML and build the typed, fully resolved :class:`Preset`."""
    raw = _mapping(path, "top level", raw, _PRESET_KEYS, {"name", "models", "tasks"})
    models = _mapping(path, "models", raw["models"], set(PHASES), set(PHASES))
    for phase in PHASES:
        _number(path, f"models.{phase}", models[phase], integer=True)
    raw_datasets = raw.get("datasets") or {}
    if not isinstance(raw_datasets, dict):
        raise _fail(path, "datasets", "expected a mapping of dataset name to its definition")
    datasets = {
        name: _dataset(path, f"datasets.{name}", spec) for name, spec in raw_datasets.items()
    }
    defaults = {"delta": raw.get("delta", 1e-5)}
    if not isinstance(raw["name"], str) or not raw["name"].strip():
        raise _fail(path, "name", f"expected a non-empty name, got {raw['name']!r}")
    device = raw.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise _fail(path, "device", f"expected auto, cpu, cuda, cuda:N or mps, got {device!r}")
    if not isinstance(raw["tasks"], list) or not raw["tasks"]:
        raise _fail(path, "tasks", "expected a non-empty list of tasks")
    tasks, known, ids = [], {}, set()
    for t, task_raw in enumerate(raw["tasks"]):
        where = f"tasks[{t}]"
        task_raw = _mapping(path, where, task_raw, _TASK_KEYS, {"id", "scenarios"})
        task_id = _identifier(path, f"{where}.id", task_raw["id"])
        for key in ("title", "description"):
            if not isinstance(task_raw.get(key, ""), str):
                raise _fail(path, f"{where}.{key}", f"expected text, got {task_raw[key]!r}")
        scenarios = []
        if not isinstance(task_raw["scenarios"], list) or not task_raw["scenarios"]:
            raise _fail(path, f"{where}.scenarios", "expected a non-empty list")
        for s, scenario_raw in enumerate(task_raw["scenarios"]):
            spec = _scenario(
                path,
                f"{where}.scenarios[{s}]",
                scenario_raw,
                task_raw,
                task_id,
                datasets,
                defaults,
                known,
            )
            if spec.id in ids:
                raise _fail(
                    path, f"{where}.scenarios[{s}].id", f"duplicate scenario id {spec.id!r}"
                )
            ids.add(spec.id)
            known[spec.id] = spec
            scenarios.append(spec)
        tasks.append(
            TaskSpec(
                id=task_id, title=task_raw.get("title", task_id),
                description=task_raw.get("description", ""), scenarios=tuple(scenarios),
                disclose_training=_flag(
                    path, f"{where}.disclose_training", task_raw.get("disclose_training", False)
                ),
            )
        )  # fmt: skip
    if len({t.id for t in tasks}) != len(tasks):
        raise _fail(path, "tasks", "task ids must be unique")
    try:
        schedule = parse_schedule(raw.get("competition"), path)
    except ScheduleError as error:
        raise PresetError(str(error)) from None
    return Preset(
        name=raw["name"], path=path, title=raw.get("title", raw["name"]),
        models={p: int(models[p]) for p in PHASES}, tasks=tuple(tasks),
        device=device,
        executor=_choice(path, "executor", raw.get("executor", "local"), EXECUTORS),
        publish_data=_flag(path, "publish_data", raw.get("publish_data", False)),
        datasets=datasets, schedule=schedule,
    )  # fmt: skip


def load_preset(name_or_path: str | Path) -> Preset:
    """Load ``presets/<name>.yaml`` (or an explicit path) and validate it."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") and not path.is_file():
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise PresetError(f"{path}: preset file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise PresetError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(f"{path}: cannot read the preset ({error})") from None
    return parse_preset(raw, path)
