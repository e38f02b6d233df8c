"""Presets: the one definition of tasks, scenarios, datasets, models and training settings.

A preset is a YAML file (``presets/<name>.yaml``). Everything else that names a task or a
scenario — competition.yaml columns, score keys, pages, reports — is rendered from the objects
built here (DESIGN principle 1). Loading validates the whole file up front so that a typo fails
before any model is trained, with one line naming the file and the offending key.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from micokit.archspec import ARCHITECTURES, architecture
from micokit.layout import PHASES

from ..errors import PresetError
from ..paths import PRESET_DIR
from .kinds import DATASET_KINDS
from .safeyaml import BoundedYAMLError, load_bounded
from .schedule import Schedule, ScheduleError, parse_schedule
from .splits import check_sizes

OPTIMIZERS = ("sgd", "adam")
GRAD_SAMPLE_MODES = ("ghost", "hooks")
# How a scenario's models are trained (docs/presets.md, "Trainers"): ``standard`` trains one
# model per program (training.train_model: plain SGD/Adam, or Opacus for DP); ``batched``
# trains ``batch_models`` MLPs as one stacked program (generator.build.batched). The functions are
# registered in generator.build.trainers; here only what a preset may name, and the architectures
# each one can train (None: any), so that a preset is checked without importing torch.
TRAINER_ARCHS: dict[str, tuple[str, ...] | None] = {"standard": None, "batched": ("mlp",)}
TRAINERS = tuple(TRAINER_ARCHS)
DEFAULT_BATCH_MODELS = 16
MAX_BATCH_MODELS = 1024
EXECUTORS = ("inline", "local", "ray")
# Architectures (micokit.archspec) and dataset kinds (generator.spec.kinds) are registries: a preset
# may name whatever is registered when it is loaded. The built-in CNN's and MLP's constructor
# defaults, for the size bounds below (a test keeps them equal to the constructors').
CNN_DEFAULTS = dict(architecture("cnn").defaults)
MLP_DEFAULTS = dict(architecture("mlp").defaults)
# Keys whose values are not integers: checked by their own rules in _model.
_NON_INTEGER_MODEL_KEYS = {"pretrained", "config", "public_pretraining", "channels"}
# transformers.RobertaConfig's defaults for the keys that size a model (roberta-base; a test
# reads them from RobertaConfig's signature), and the keys training._tiny_roberta sets itself.
ROBERTA_SIZE_DEFAULTS = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
ROBERTA_SET_BY_GENERATOR = {
    "vocab_size",
    "num_labels",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "max_position_embeddings",
    "type_vocab_size",
}
PUBLIC_PRETRAINING_KEYS = {"size", "seed", "epochs", "lr"}
# Ids name folders, files, archives and leaderboard columns: portable file-name characters, and
# short enough for any file system.
MAX_ID_LENGTH = 64
ID_PATTERN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}")
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")

# Bounds on every count and size, checked at load before anything is allocated: without them
# ``models: {train: 10**12}`` made ``status`` and ``generate`` allocate until the machine gave
# out. Each is far beyond MICO's own setup (presets/mico.yaml, in brackets) and docs/presets.md
# lists them.
MAX_MODELS = 10_000  # per scenario and phase [100 train, 50 dev, 50 final]
MAX_TASKS = 100  # [4]
MAX_SCENARIOS = 100  # per task [3]
MAX_DATASET_SIZE = 1_000_000  # generated points [the largest real set, Purchase-100: 197,324]
MAX_EPOCHS = 10_000  # [50]
MAX_TEXT_LENGTH = 512  # tokens per sentence: roberta-base's position embeddings [67]
MAX_VOCAB_SIZE = 500_000  # [roberta-base: 50,265]
MAX_SEED = 2**63 - 1  # torch.manual_seed takes 64-bit seeds
# Opacus' PRV accountant took 5 s to calibrate σ at ε = 10, 48 s at ε = 100 and 137 s at ε = 300
# (sample rate 0.1, 100 steps, on this project's 2-core machine), and longer beyond [4 and 10].
MAX_EPSILON = 100
MIN_DELTA = 1e-12  # [1e-5]; at 1e-30 the PRV accountant refuses ("floating point errors")
MAX_PARAMETERS = 1_000_000_000  # per model [roberta-base: 125 M; MICO's CNN: 0.97 M]
MAX_ACTIVATIONS = 10_000_000  # values of a CNN's largest layer for one image [36,864]
# Characters of a name, title or label, and of a description: sanity bounds only; the
# platforms' own limits are shorter and check-bundle checks those (generator/publish/conformance.py).
MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
MAX_PATH_LENGTH = 4096  # a data path (Linux PATH_MAX), each part at most 255 bytes (NAME_MAX)


# The synthetic text corpus' fractions (datasets.synthetic_sentences), each with what it must
# be: flipping half the labels or more would make the labels say the opposite of the text.
TEXT_FRACTIONS: dict[str, tuple[Callable[[float], bool], str]] = {
    "label_noise": (lambda v: v < 0.5, "below 0.5 (a fraction of flipped labels)"),
    "ambiguous": (lambda v: v <= 1, "at most 1 (a fraction of neutral sentences)"),
    "negation": (lambda v: v <= 1, "at most 1 (a fraction of negated sentences)"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a task's data comes from; ``path`` is relative to the organizer's data directory."""

    kind: str
    path: str | None = None
    size: int | None = None  # synthetic sets only
    seed: int = 0  # synthetic sets and pixel noise
    label_noise: float = 0.08  # synthetic text only: fraction of flipped labels
    ambiguous: float = 0.0  # synthetic text only: fraction of neutral sentences, coin-flip labels
    negation: float = 0.2  # synthetic text only: fraction of clear sentences negated ("not")
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
    trainer: str = "standard"
    # Models trained together by the batched trainer: the scenario's models in the order
    # train, dev, final, cut into consecutive groups of this many. Fixed by the preset, never by
    # the free memory of the moment, so that the same preset groups them the same way on every
    # run and executor (padding, and with it the last bits of the weights, depends on the group).
    batch_models: int = DEFAULT_BATCH_MODELS

    @property
    def models_per_call(self) -> int:
        """How many models one call of the trainer trains (1 unless batched)."""
        return self.batch_models if self.trainer == "batched" else 1


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
class ReportSpec:
    """Thresholds of the calibration report's *useless models* and *weak signal* flags
    (``generator.publish.calibration``).

    With chance c = 1 / classes: models are flagged when their mean test accuracy is below
    c + ``min_gain_over_chance`` · (1 − c), or, in a DP scenario, below
    c + ``min_share_of_nondp_gain`` · (r − c), r the ε = ∞ models' mean accuracy on the same
    dataset with the same model: by default DP must keep half of what training gains over
    chance, or the scenario asks whether a model that learned little leaks little. An ε = ∞
    scenario is flagged when its strongest attack's TPR@0.1 is below ``min_signal_tpr``.
    0 turns a check off.
    """

    min_gain_over_chance: float = 0.1
    min_share_of_nondp_gain: float = 0.5
    min_signal_tpr: float = 0.3


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
    report: ReportSpec = ReportSpec()

    def task(self, task_id: str) -> TaskSpec:
        for task in self.tasks:
            if task.id == task_id:
                return task
        known = ", ".join(t.id for t in self.tasks)
        raise PresetError(f"{self.path}: unknown task {task_id!r} (known: {known})")


# --------------------------------------------------------------------------- validation helpers


def _fail(path: Path, where: str, problem: str) -> PresetError:
    return PresetError(f"{path}: {where}: {problem}")


def _shown(value: Any) -> str:
    """A value as an error message shows it: its repr, shortened so the message stays one line."""
    text = repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and len(text) > 24:
        return f"{text[:12]}… (a {len(text.lstrip('-'))}-digit number)"
    return text if len(text) <= 60 else f"{text[:57]}…"


def _count(number: int) -> str:
    """A computed count for a message: exact up to 10^18, else its order of magnitude (a product
    of YAML integers may have more digits than Python converts to text)."""
    return f"{number:,}" if number < 10**18 else f"about 10^{int(number.bit_length() * 0.30103)}"


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


def _number(
    path: Path,
    where: str,
    value: Any,
    *,
    integer: bool = False,
    positive: bool = True,
    maximum: float | None = None,
):
    """Check a number and return it; ``1e-5`` is accepted although PyYAML reads it as a string.

    A ``maximum`` bounds it, and the message states the allowed range.
    """
    ok_types = (int,) if integer else (int, float)
    if not integer and isinstance(value, str) and len(value) < 64:
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, ok_types):
        kind = "an integer" if integer else "a number"
        raise _fail(path, where, f"expected {kind}, got {_shown(value)}")
    finite = isinstance(value, int) or math.isfinite(value)  # isfinite(10**400) overflows
    if not finite or (positive and value <= 0) or (not positive and value < 0):
        raise _fail(
            path,
            where,
            f"expected a {'positive' if positive else 'non-negative'} value, got {_shown(value)}",
        )
    if maximum is not None and value > maximum:
        if integer:
            allowed = f"{int(positive)} to {maximum:,}"
        else:
            allowed = f"{'above' if positive else 'at least'} 0 and at most {maximum:g}"
        raise _fail(path, where, f"{_shown(value)} is out of range (allowed: {allowed})")
    return value


def _flag(path: Path, where: str, value: Any) -> bool:
    # bool("false") is True: a quoted YAML boolean must not silently mean the opposite.
    if not isinstance(value, bool):
        raise _fail(path, where, f"expected true or false, got {value!r}")
    return value


def _identifier(path: Path, where: str, value: Any) -> str:
    """Every id that names a folder or file (task, scenario, dataset name) passes this check."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise _fail(
            path,
            where,
            f"expected an id of letters, digits, '_' and '-' (at most {MAX_ID_LENGTH}, not "
            f"starting with '_' or '-'), got {_shown(value)}",
        )
    return value


def _text(path: Path, where: str, value: Any, *, limit: int, multiline: bool = False) -> str:
    """Text shown to participants: no control characters, bounded length.

    Line breaks and tabs are allowed in descriptions only; the pages render every preset text
    as plain text (``pages.markdown_text``), so a title cannot break the page around it.
    """
    if not isinstance(value, str):
        raise _fail(path, where, f"expected text, got {_shown(value)}")
    if len(value) > limit:
        raise _fail(path, where, f"{len(value):,} characters is too long (at most {limit:,})")
    allowed = "\n\t" if multiline else ""
    for char in value:
        if unicodedata.category(char) == "Cc" and char not in allowed:
            raise _fail(path, where, f"control character {char!r} in {_shown(value)}")
    return value


def _data_path(path: Path, where: str, value: Any) -> str:
    """A path under the data directory (or absolute) that the file system can look up."""
    if not isinstance(value, str) or not value:
        raise _fail(path, where, f"expected a path under the data directory, got {_shown(value)}")
    if len(value) > MAX_PATH_LENGTH or any(len(p.encode()) > 255 for p in value.split("/")):
        raise _fail(
            path,
            where,
            f"path too long (at most {MAX_PATH_LENGTH:,} characters, 255 bytes per part)",
        )
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise _fail(path, where, f"control character in the path {_shown(value)}")
    return value


def _choice(path: Path, where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise _fail(path, where, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _dataset(path: Path, where: str, raw: Any) -> DatasetSpec:
    allowed = {"kind", "path", "size", "seed", "max_length", "vocab_size", "noise"}
    allowed |= set(TEXT_FRACTIONS)
    raw = _mapping(path, where, raw, allowed, {"kind"})
    kind = _choice(path, f"{where}.kind", raw["kind"], tuple(DATASET_KINDS))
    if DATASET_KINDS[kind].needs_path and not isinstance(raw.get("path"), str):
        raise _fail(path, where, f"dataset kind {kind!r} needs a 'path' under the data directory")
    if DATASET_KINDS[kind].synthetic and "size" not in raw:
        raise _fail(path, where, f"dataset kind {kind!r} needs a 'size'")
    values = dict(raw)
    if "path" in raw:
        _data_path(path, f"{where}.path", raw["path"])
    # Bounded here, not where the data are built: synthetic_purchase allocates size × 600 values.
    limits = {"size": MAX_DATASET_SIZE, "max_length": MAX_TEXT_LENGTH, "vocab_size": MAX_VOCAB_SIZE}
    for key, limit in limits.items():
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], integer=True, maximum=limit)
    if "seed" in raw:
        values["seed"] = _seed(path, f"{where}.seed", raw["seed"])
    if "noise" in raw:
        values["noise"] = _number(path, f"{where}.noise", raw["noise"], positive=False)
    for key, (holds, rule) in TEXT_FRACTIONS.items():
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], positive=False)
            if not holds(values[key]):
                raise _fail(path, f"{where}.{key}", f"must be {rule}")
    return DatasetSpec(**values)


def _seed(path: Path, where: str, value: Any) -> int:
    return _number(path, where, value, integer=True, positive=False, maximum=MAX_SEED)


def _training(path: Path, where: str, raw: dict) -> TrainingSpec:
    allowed = {f.name for f in TrainingSpec.__dataclass_fields__.values()}
    raw = _mapping(path, where, raw, allowed, {"optimizer", "lr", "batch_size", "epochs"})
    _choice(path, f"{where}.optimizer", raw["optimizer"], OPTIMIZERS)
    _choice(
        path, f"{where}.grad_sample_mode", raw.get("grad_sample_mode", "ghost"), GRAD_SAMPLE_MODES
    )
    _choice(path, f"{where}.trainer", raw.get("trainer", "standard"), TRAINERS)
    values = dict(raw)
    # None switches an optional feature off; the other keys always need a value.
    optional = {"max_grad_norm", "lr_step_size", "max_physical_batch_size"}
    for key in ("lr", "lr_gamma", "max_grad_norm"):
        if key in raw and not (key in optional and raw[key] is None):
            values[key] = _number(path, f"{where}.{key}", raw[key])
    for key in ("momentum", "weight_decay"):
        if key in raw:
            values[key] = _number(path, f"{where}.{key}", raw[key], positive=False)
    # Batch sizes are bounded by the training set once n is known (_batch_sizes).
    limits = {"epochs": MAX_EPOCHS, "lr_step_size": MAX_EPOCHS, "batch_models": MAX_BATCH_MODELS}
    for key in ("batch_size", "epochs", "lr_step_size", "max_physical_batch_size", "batch_models"):
        if key in raw and not (key in optional and raw[key] is None):
            limit = limits.get(key)
            values[key] = _number(path, f"{where}.{key}", raw[key], integer=True, maximum=limit)
    return TrainingSpec(**values)


def _batch_sizes(path: Path, where: str, training: TrainingSpec, n: int) -> None:
    """A batch larger than the training set means nothing, and a DP sampling rate above 1."""
    for key in ("batch_size", "max_physical_batch_size"):
        value = getattr(training, key)
        if value is not None and value > n:
            raise _fail(
                path,
                f"{where}.{key}",
                f"{_shown(value)} is out of range (allowed: 1 to n = {n:,}, the training set)",
            )


def _cnn_size(path: Path, where: str, arch: dict[str, Any]) -> tuple[int, int]:
    """Parameters and largest layer (values per image) of micokit's MicoCNN, computed.

    The layers are MicoCNN's: conv k/s/p, tanh, MaxPool2d(3, stride=1), conv 3×3, tanh,
    conv 3×3, tanh, AvgPool2d(2), linear; torch's output size is ⌊(s + 2p − k) / stride⌋ + 1.
    MicoCNN's constructor runs one image through the layers, so a geometry that leaves no
    pixels is refused here, with the sizes, rather than by torch when the model is built.
    """
    p = {**CNN_DEFAULTS, **arch}
    c1, c2, c3 = p["channels"]
    size, kernel = p["image_size"], p["conv1_kernel"]
    s1 = (size + 2 * p["conv1_padding"] - kernel) // p["conv1_stride"] + 1
    s2, s3, s4 = s1 - 2, s1 - 4, s1 - 6  # max pool 3, then two 3×3 convolutions
    s5 = s4 // 2  # average pool 2
    if s5 < 1:
        raise _fail(
            path,
            f"{where}.image_size",
            f"a {_shown(size)}×{_shown(size)} image is too small for this CNN: the first "
            f"convolution gives {max(s1, 0)}×{max(s1, 0)} and the network needs at least 8×8 "
            "there",
        )
    conv1 = p["in_channels"] * c1 * kernel * kernel + c1
    convs = c1 * c2 * 9 + c2 + c2 * c3 * 9 + c3
    parameters = conv1 + convs + (c3 * s5 * s5 + 1) * p["num_classes"]
    largest = max(p["in_channels"] * size * size, c1 * s1 * s1, c1 * s2 * s2, c2 * s3 * s3)
    return parameters, max(largest, c3 * s4 * s4)


def _mlp_size(arch: dict[str, Any]) -> int:
    p = {**MLP_DEFAULTS, **arch}
    return (p["in_features"] + 1) * p["hidden"] + (p["hidden"] + 1) * p["num_classes"]


def _roberta_size(path: Path, where: str, config: dict[str, Any], dataset: DatasetSpec) -> int:
    """Parameters of the from-scratch RobertaForSequenceClassification that training builds.

    Embeddings (vocabulary at most ``vocab_size``, ``max_length + 2`` positions, one token
    type, layer norm), per layer attention (4 h×h + biases), feed-forward (2 h×i + biases) and two
    layer norms, then the classification head (h×h and h×2).
    """
    clash = sorted(set(config) & ROBERTA_SET_BY_GENERATOR)
    if clash:
        raise _fail(path, f"{where}.config.{clash[0]}", "is set by the generator; leave it out")
    sizes = {}
    for key, default in ROBERTA_SIZE_DEFAULTS.items():
        sizes[key] = _number(path, f"{where}.config.{key}", config.get(key, default), integer=True)
    hidden, layers = sizes["hidden_size"], sizes["num_hidden_layers"]
    heads, inner = sizes["num_attention_heads"], sizes["intermediate_size"]
    if hidden % heads:
        raise _fail(
            path,
            f"{where}.config.num_attention_heads",
            f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}",
        )
    embeddings = (dataset.vocab_size + dataset.max_length + 2 + 1 + 2) * hidden
    layer = 4 * hidden * hidden + 2 * hidden * inner + 9 * hidden + inner
    head = hidden * hidden + 3 * hidden + 2
    return embeddings + layers * layer + head


def _roberta_check(
    path: Path, where: str, raw: dict[str, Any], dataset: DatasetSpec
) -> tuple[int, int]:
    if "pretrained" in raw:
        return 0, 0  # a checkpoint on disk: its size is what it is
    return _roberta_size(path, where, raw.get("config", {}), dataset), 0


# The built-in architectures' size checks: (parameters, largest layer per point), with the
# geometry checked on the way; another registered architecture may bring its own count.
_SIZE_CHECKS = {
    "cnn": lambda path, where, raw, dataset: _cnn_size(path, where, raw),
    "mlp": lambda path, where, raw, dataset: (_mlp_size(raw), 0),
    "roberta": _roberta_check,
}


def _config(path: Path, where: str, value: Any) -> dict[str, Any]:
    """RobertaConfig keyword arguments: names to plain values (no lists or mappings to expand)."""
    if not isinstance(value, dict):
        raise _fail(path, where, "expected a mapping of RobertaConfig arguments")
    for key, item in value.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise _fail(path, where, f"expected argument names, got {_shown(key)}")
        if item is not None and not isinstance(item, (bool, int, float, str)):
            raise _fail(
                path,
                f"{where}.{key}",
                f"expected a number, text, true/false or null, got {_shown(item)}",
            )
    return value


def _model(path: Path, where: str, raw: Any, dataset: DatasetSpec) -> dict[str, Any]:
    if not isinstance(raw, dict) or "arch" not in raw:
        raise _fail(path, where, "expected a mapping with an 'arch' key")
    arch = _choice(path, f"{where}.arch", raw["arch"], tuple(ARCHITECTURES))
    takes, holds = ARCHITECTURES[arch].modality, DATASET_KINDS[dataset.kind].modality
    if takes != holds:
        problem = (
            f"{arch!r} models take {takes} data but dataset kind {dataset.kind!r} holds "
            f"{holds} data"
        )
        raise _fail(path, f"{where}.arch", problem)
    keys = set(ARCHITECTURES[arch].defaults)
    _mapping(path, where, raw, keys | {"arch"}, set())
    for key in keys - _NON_INTEGER_MODEL_KEYS:
        if key in raw:
            _number(path, f"{where}.{key}", raw[key], integer=True, positive=key != "conv1_padding")
    if "channels" in raw:
        channels = raw["channels"]
        if not isinstance(channels, list) or len(channels) != 3:
            raise _fail(
                path, f"{where}.channels", f"expected a list of 3 widths, got {_shown(channels)}"
            )
        for i, width in enumerate(channels):
            _number(path, f"{where}.channels[{i}]", width, integer=True)
    if "pretrained" in raw:
        _data_path(path, f"{where}.pretrained", raw["pretrained"])
    if "config" in raw:
        _config(path, f"{where}.config", raw["config"])
    if "public_pretraining" in raw:
        pre = _mapping(
            path,
            f"{where}.public_pretraining",
            raw["public_pretraining"],
            PUBLIC_PRETRAINING_KEYS,
            {"size", "seed", "epochs"},
        )
        for key, limit in (("size", MAX_DATASET_SIZE), ("epochs", MAX_EPOCHS)):
            _number(
                path, f"{where}.public_pretraining.{key}", pre[key], integer=True, maximum=limit
            )
        _seed(path, f"{where}.public_pretraining.seed", pre["seed"])
        if "lr" in pre:
            _number(path, f"{where}.public_pretraining.lr", pre["lr"])
    # Bounded before anything is built: a model's weights, and for a CNN its largest layer.
    check = _SIZE_CHECKS.get(arch)
    if check is not None:
        parameters, largest = check(path, where, raw, dataset)
    else:  # a registered architecture: its own count, if it gives one
        spec = ARCHITECTURES[arch]
        parameters = spec.parameters(spec.settings(raw)) if spec.parameters else 0
        largest = 0
    if parameters > MAX_PARAMETERS:
        raise _fail(
            path,
            where,
            f"{_count(parameters)} parameters is out of range "
            f"(allowed: at most {MAX_PARAMETERS:,})",
        )
    if largest > MAX_ACTIVATIONS:
        raise _fail(
            path,
            where,
            f"a layer of {_count(largest)} values per image is out of range "
            f"(allowed: at most {MAX_ACTIVATIONS:,})",
        )
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
    kind = DATASET_KINDS[dataset.kind]
    size = dataset.size if kind.synthetic else kind.official_size
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
    "id",
    "title",
    "description",
    "dataset",
    "model",
    "n",
    "m",
    "training",
    "scenarios",
    "disclose_training",
    "delta",
}
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
    "report",
}


def _scenario(path, where, raw, task_raw, task_id, datasets, defaults, known) -> ScenarioSpec:
    raw = _mapping(path, where, raw, _SCENARIO_KEYS, {"id"})
    _identifier(path, f"{where}.id", raw["id"])
    if "label" in raw:
        _text(path, f"{where}.label", raw["label"], limit=MAX_TITLE_LENGTH)
    if "based_on" in raw:  # DP distinguisher: same setup as a scenario of another task
        based_on = raw["based_on"]
        base = known.get(based_on) if isinstance(based_on, str) else None
        if base is None:
            raise _fail(path, f"{where}.based_on", f"no earlier scenario named {_shown(based_on)}")
        extra = set(raw) - {"id", "label", "based_on"}
        if extra:
            raise _fail(
                path,
                where,
                f"'based_on' scenarios take only id and label, not {sorted(extra)[0]!r}",
            )
        return replace(base, id=raw["id"], task=task_id, label=raw.get("label", base.label))
    dataset_name = task_raw.get("dataset")
    if not isinstance(dataset_name, str) or dataset_name not in datasets:
        raise _fail(
            path,
            f"tasks.{task_id}.dataset",
            f"unknown dataset {_shown(dataset_name)} (define it under 'datasets')",
        )
    epsilon = raw.get("epsilon")
    if epsilon is not None:
        epsilon = _number(path, f"{where}.epsilon", epsilon, maximum=MAX_EPSILON)
    delta = raw.get("delta", task_raw.get("delta", defaults["delta"]))
    delta = _number(path, f"{where}.delta", delta)
    if not MIN_DELTA <= delta < 1:
        raise _fail(
            path,
            f"{where}.delta",
            f"{_shown(delta)} is out of range (allowed: {MIN_DELTA:g} ≤ δ < 1)",
        )
    training = _training(
        path, f"{where}.training", _merge(task_raw.get("training"), raw.get("training"))
    )
    if epsilon is not None and training.max_grad_norm is None:
        raise _fail(path, f"{where}.training", "a DP scenario needs 'max_grad_norm'")
    dataset = datasets[dataset_name]
    n, m = _sizes(path, where, raw, task_raw, dataset)
    _batch_sizes(path, f"{where}.training", training, n)
    model = _model(path, f"{where}.model", _merge(task_raw.get("model"), raw.get("model")), dataset)
    if training.trainer == "batched" and training.max_physical_batch_size is not None:
        raise _fail(
            path,
            f"{where}.training.max_physical_batch_size",
            "the batched trainer takes each logical batch whole; "
            "bound its memory with batch_models instead",
        )
    archs = TRAINER_ARCHS[training.trainer]
    if archs is not None and model["arch"] not in archs:
        raise _fail(
            path,
            f"{where}.training.trainer",
            f"the {training.trainer} trainer trains {', '.join(archs)} models, "
            f"not {model['arch']!r} (use trainer: standard)",
        )
    return ScenarioSpec(
        id=raw["id"],
        task=task_id,
        label=raw.get("label", _default_label(epsilon)),
        epsilon=None if epsilon is None else float(epsilon),
        delta=float(delta),
        dataset_name=dataset_name,
        dataset=dataset,
        model=model,
        n=n,
        m=m,
        training=training,
    )


def _report(path: Path, raw: Any) -> ReportSpec:
    """The ``report`` section: each threshold a fraction from 0 to 1 (absent: the default)."""
    if raw is None:
        return ReportSpec()
    allowed = set(ReportSpec.__dataclass_fields__)
    raw = _mapping(path, "report", raw, allowed, set())
    values = {
        key: float(_number(path, f"report.{key}", value, positive=False, maximum=1))
        for key, value in raw.items()
    }
    return ReportSpec(**values)


def _unique(path: Path, where: str, what: str, value: str, seen: set[str]) -> None:
    """Ids name folders: two that differ only in case are one folder on macOS and Windows."""
    if value.casefold() in seen:
        raise _fail(
            path,
            where,
            f"duplicate {what} {value!r} (ids are compared ignoring case: they name folders)",
        )
    seen.add(value.casefold())


def _datasets(path: Path, raw: Any) -> dict[str, DatasetSpec]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise _fail(path, "datasets", "expected a mapping of dataset name to its definition")
    datasets, seen = {}, set()
    for name, spec in raw.items():
        # A dataset name is a folder of the public archive (<task>/data/<name>/): an id.
        _identifier(path, "datasets", name)
        _unique(path, "datasets", "dataset name", name, seen)
        datasets[name] = _dataset(path, f"datasets.{name}", spec)
    return datasets


def _list(path: Path, where: str, value: Any, what: str, limit: int) -> list:
    if not isinstance(value, list) or not value:
        raise _fail(path, where, f"expected a non-empty list of {what}")
    if len(value) > limit:
        raise _fail(path, where, f"{len(value):,} {what} is out of range (allowed: 1 to {limit:,})")
    return value


def _task(path: Path, t: int, task_raw: Any, datasets, defaults, known, seen) -> TaskSpec:
    where = f"tasks[{t}]"
    task_raw = _mapping(path, where, task_raw, _TASK_KEYS, {"id", "scenarios"})
    task_id = _identifier(path, f"{where}.id", task_raw["id"])
    title = _text(path, f"{where}.title", task_raw.get("title", task_id), limit=MAX_TITLE_LENGTH)
    description = _text(
        path,
        f"{where}.description",
        task_raw.get("description", ""),
        limit=MAX_DESCRIPTION_LENGTH,
        multiline=True,
    )
    raw_scenarios = _list(
        path, f"{where}.scenarios", task_raw["scenarios"], "scenarios", MAX_SCENARIOS
    )
    scenarios = []
    for s, scenario_raw in enumerate(raw_scenarios):
        at = f"{where}.scenarios[{s}]"
        spec = _scenario(path, at, scenario_raw, task_raw, task_id, datasets, defaults, known)
        _unique(path, f"{at}.id", "scenario id", spec.id, seen)
        known[spec.id] = spec
        scenarios.append(spec)
    disclose = _flag(path, f"{where}.disclose_training", task_raw.get("disclose_training", False))
    return TaskSpec(
        id=task_id,
        title=title,
        description=description,
        scenarios=tuple(scenarios),
        disclose_training=disclose,
    )


def parse_preset(raw: Any, path: Path) -> Preset:
    """Validate a preset's parsed YAML and build the typed, fully resolved :class:`Preset`."""
    raw = _mapping(path, "top level", raw, _PRESET_KEYS, {"name", "models", "tasks"})
    models = _mapping(path, "models", raw["models"], set(PHASES), set(PHASES))
    for phase in PHASES:
        _number(path, f"models.{phase}", models[phase], integer=True, maximum=MAX_MODELS)
    datasets = _datasets(path, raw.get("datasets"))
    defaults = {"delta": raw.get("delta", 1e-5)}
    name = _text(path, "name", raw["name"], limit=MAX_TITLE_LENGTH)
    if not name.strip():
        raise _fail(path, "name", f"expected a non-empty name, got {name!r}")
    title = _text(path, "title", raw.get("title", name), limit=MAX_TITLE_LENGTH)
    device = raw.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise _fail(
            path, "device", f"expected auto, cpu, cuda, cuda:N or mps, got {_shown(device)}"
        )
    raw_tasks = _list(path, "tasks", raw["tasks"], "tasks", MAX_TASKS)
    tasks, known, scenario_ids, task_ids = [], {}, set(), set()
    for t, task_raw in enumerate(raw_tasks):
        task = _task(path, t, task_raw, datasets, defaults, known, scenario_ids)
        _unique(path, f"tasks[{t}].id", "task id", task.id, task_ids)
        tasks.append(task)
    try:
        schedule = parse_schedule(raw.get("competition"), path)
    except ScheduleError as error:
        raise PresetError(str(error)) from None
    return Preset(
        name=name,
        path=path,
        title=title,
        models={p: int(models[p]) for p in PHASES},
        tasks=tuple(tasks),
        device=device,
        executor=_choice(path, "executor", raw.get("executor", "local"), EXECUTORS),
        publish_data=_flag(path, "publish_data", raw.get("publish_data", False)),
        datasets=datasets,
        schedule=schedule,
        report=_report(path, raw.get("report")),
    )


def load_preset(name_or_path: str | Path) -> Preset:
    """Load ``presets/<name>.yaml`` (or an explicit path) and validate it.

    The YAML is read with bounds on size, nesting and alias expansion (``generator.spec.safeyaml``),
    so an alias bomb is refused before anything walks it.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml") and not path.is_file():
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESET_DIR.glob("*.yaml")))
        raise PresetError(f"{path}: preset file not found (presets here: {known}; or a path)")
    try:
        raw = load_bounded(path)
    except BoundedYAMLError as error:
        raise PresetError(str(error)) from None
    except yaml.YAMLError as error:
        raise PresetError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(f"{path}: cannot read the preset ({error})") from None
    except ValueError as error:  # an integer beyond Python's 4,300-digit conversion limit
        problem = str(error).splitlines()[0].split(";")[0]
        raise PresetError(
            f"{path}: not valid YAML (a value Python cannot read: {problem})"
        ) from None
    return parse_preset(raw, path)
