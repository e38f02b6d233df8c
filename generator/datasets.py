"""Task datasets: the official on-disk formats of MICO's datasets and the embedded demo sets.

Everything is read from local files or built deterministically in-process; nothing downloads.
A missing or malformed file raises :class:`DatasetError` naming the path and the expected
format, so that ``generate`` fails before training anything.
"""

from __future__ import annotations

import csv
import io
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .presets import DatasetSpec

CIFAR10_MEAN = (0.49139968, 0.48215841, 0.44653091)
CIFAR10_STD = (0.24703223, 0.24348513, 0.26158784)
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
PURCHASE_FEATURES = 600
PURCHASE_CLASSES = 100


class DatasetError(ValueError):
    """A dataset file is missing or not in the expected format."""


@dataclass
class TaskData:
    """A whole task dataset, already in tensor form, indexed by the split's dataset indices."""

    name: str
    modality: str  # "image", "tabular" or "text"
    labels: np.ndarray
    features: torch.Tensor | None = None  # image / tabular
    input_ids: torch.Tensor | None = None  # text
    attention_mask: torch.Tensor | None = None  # text
    sentences: list[str] | None = None  # text, for publishing
    tokenizer: Any = None  # text: transformers.PreTrainedTokenizerFast

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> TensorDataset:
        """The points at ``indices`` as a dataset of (inputs..., label) tuples."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        labels = torch.as_tensor(self.labels)[idx]
        if self.modality == "text":
            return TensorDataset(self.input_ids[idx], self.attention_mask[idx], labels)
        return TensorDataset(self.features[idx], labels)


# ----------------------------------------------------------------------------------- CIFAR-10


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches are pickles; allow only the numpy pieces they are made of."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_cifar10(directory: Path) -> TaskData:
    """CIFAR-10, python version: ``data_batch_1..5`` then ``test_batch`` (60,000 images)."""
    expected = "CIFAR-10 python version (cifar-10-batches-py/data_batch_1..5, test_batch)"
    images, labels = [], []
    for name in CIFAR10_FILES:
        path = directory / name
        if not path.is_file():
            raise DatasetError(f"{path}: file not found; expected {expected}")
        try:
            with path.open("rb") as handle:
                batch = _NumpyOnlyUnpickler(handle, encoding="bytes").load()
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            batch_labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as error:  # noqa: BLE001 - any failure means "not this format"
            raise DatasetError(
                f"{path}: not a CIFAR-10 python batch ({error}); expected {expected}"
            ) from None
        if data.ndim != 2 or data.shape[1] != 3072 or len(batch_labels) != len(data):
            raise DatasetError(
                f"{path}: expected an N×3072 uint8 'data' array with N labels, got {data.shape}"
            )
        images.append(data)
        labels.append(batch_labels)
    pixels = np.concatenate(images).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    features = torch.from_numpy((pixels - mean) / std)
    return TaskData("cifar10", "image", np.concatenate(labels), features=features)


# ----------------------------------------------------------------------------------- Purchase-100


def load_purchase100(path: Path) -> TaskData:
    """Purchase-100 ``dataset_purchase``: class 1..100, then 600 binary features, per line."""
    expected = "comma-separated lines: class 1..100, then 600 binary features"
    if not path.is_file():
        raise DatasetError(f"{path}: file not found; expected {expected}")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int16, ndmin=2)
    except ValueError as error:
        raise DatasetError(f"{path}: {error}; expected {expected}") from None
    if table.shape[1] != PURCHASE_FEATURES + 1:
        raise DatasetError(
            f"{path}: {table.shape[1]} columns, expected {PURCHASE_FEATURES + 1} ({expected})"
        )
    classes, features = table[:, 0], table[:, 1:]
    if classes.min() < 1 or classes.max() > PURCHASE_CLASSES or not np.isin(features, (0, 1)).all():
        raise DatasetError(f"{path}: values out of range; expected {expected}")
    return TaskData(
        "purchase100", "tabular", (classes - 1).astype(np.int64),
        features=torch.from_numpy(features.astype(np.float32)),
    )  # fmt: skip


# ----------------------------------------------------------------------------------- SST-2


def _read_glue_tsv(path: Path) -> tuple[list[str], list[int]]:
    expected = "GLUE SST-2 TSV with a header row and columns 'sentence' and 'label' (0/1)"
    if not path.is_file():
        raise DatasetError(f"{path}: file not found; expected {expected}")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not reader.fieldnames or not {"sentence", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path}: header {reader.fieldnames}; expected {expected}")
        sentences, labels = [], []
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1") or not row["sentence"]:
                raise DatasetError(f"{path}:{line}: bad row; expected {expected}")
            sentences.append(row["sentence"])
            labels.append(int(row["label"]))
    return sentences, labels


def load_sst2_sentences(directory: Path) -> tuple[list[str], np.ndarray]:
    """SST-2 from GLUE: ``train.tsv`` then ``dev.tsv`` (67,349 + 872 sentences)."""
    train_s, train_l = _read_glue_tsv(directory / "train.tsv")
    dev_s, dev_l = _read_glue_tsv(directory / "dev.tsv")
    return train_s + dev_s, np.asarray(train_l + dev_l, dtype=np.int64)


# ----------------------------------------------------------------------------------- demo data


def load_digits_images(noise: float = 0.0, seed: int = 0) -> TaskData:
    """scikit-learn's digits (1,797 real 8×8 images, 10 classes), standardised like CIFAR-10.

    ``noise`` adds fixed Gaussian pixel noise (standard deviation in standardised units, drawn
    once from ``seed``). Clean digits are so easy that models generalise almost perfectly and
    membership leaves little trace; noisy digits behave more like CIFAR-10, where a model must
    memorise its training images to fit them.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.images.astype(np.float32) / 16.0
    pixels = (pixels - pixels.mean()) / pixels.std()
    if noise:
        rng = np.random.Generator(np.random.PCG64(seed))
        pixels = pixels + noise * rng.standard_normal(pixels.shape).astype(np.float32)
    return TaskData(
        "digits", "image", digits.target.astype(np.int64),
        features=torch.from_numpy(pixels[:, None, :, :].copy()),
    )  # fmt: skip


def synthetic_purchase(size: int, seed: int) -> TaskData:
    """A Purchase-100-like set: 600 sparse binary features around 100 class prototypes.

    Each class has a prototype basket (20% of items); a record keeps each prototype item with
    probability 0.7 and adds each other item with probability 0.05, so classes overlap enough that
    small training sets are memorised rather than generalised — as with the real data.
    Deterministic: PCG64 bit streams are stable across numpy versions.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    prototypes = rng.random((PURCHASE_CLASSES, PURCHASE_FEATURES)) < 0.2
    labels = np.arange(size) % PURCHASE_CLASSES
    labels = labels[rng.permutation(size)]
    keep = rng.random((size, PURCHASE_FEATURES)) < 0.7
    noise = rng.random((size, PURCHASE_FEATURES)) < 0.05
    features = (prototypes[labels] & keep) | noise
    return TaskData(
        "synthetic_purchase", "tabular", labels.astype(np.int64),
        features=torch.from_numpy(features.astype(np.float32)),
    )  # fmt: skip


_SUBJECTS = [
    "the film", "this movie", "the plot", "the acting", "the soundtrack", "the director's new work",
    "the script", "the ending", "the cast", "this sequel", "the story", "the cinematography",
    "the dialogue", "the premise", "the lead actor", "the pacing", "this documentary", "the score",
    "the comedy", "the thriller", "the visual effects", "the screenplay", "the performance",
]  # fmt: skip
_POSITIVE = [
    "wonderful", "moving", "brilliant", "delightful", "gripping", "charming", "superb", "touching",
    "clever", "beautiful", "hilarious", "memorable", "stunning", "heartfelt", "smart", "engaging",
]  # fmt: skip
_NEGATIVE = [
    "dull", "tedious", "clumsy", "boring", "awful", "predictable", "shallow", "messy", "lifeless",
    "painful", "forgettable", "bland", "confusing", "sloppy", "tiresome", "weak",
]  # fmt: skip
_INTENSIFIERS = [
    "",
    "",
    "truly",
    "really",
    "quite",
    "rather",
    "utterly",
    "surprisingly",
    "somewhat",
]
_VERBS = ["is", "feels", "seems", "turns out to be", "was", "remains", "comes across as"]
_ENDINGS = [
    "", "", "from start to finish", "despite its flaws", "in every scene", "for most of its length",
    "by the final act", "even on a second viewing", "for a summer release", "at times",
    "compared to the original", "in the best possible way", "for better or worse",
]  # fmt: skip
_NAMES = [
    "anna",
    "boris",
    "chen",
    "dara",
    "elif",
    "femi",
    "gus",
    "hana",
    "ivan",
    "jo",
    "kai",
    "lena",
]


def synthetic_sentences(
    size: int, seed: int, label_noise: float = 0.08
) -> tuple[list[str], np.ndarray]:
    """A deterministic sentiment corpus of varied template sentences with labels 0/1.

    Sentences combine a subject, a verb, an optional intensifier, a sentiment word, optional
    negation ("not") that flips the label, an ending and sometimes a reviewer's aside. A fraction
    ``label_noise`` of labels is flipped, as in crowd-labelled data, so a model can only fit those
    by memorising them — which is what membership inference detects.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    sentences, labels, seen = [], [], set()
    while len(sentences) < size:
        positive = bool(rng.integers(2))
        negated = rng.random() < 0.2
        word = (_POSITIVE if positive else _NEGATIVE)[rng.integers(16)]
        parts = [
            _SUBJECTS[rng.integers(len(_SUBJECTS))],
            _VERBS[rng.integers(len(_VERBS))],
            "not" if negated else "",
            _INTENSIFIERS[rng.integers(len(_INTENSIFIERS))],
            word,
            _ENDINGS[rng.integers(len(_ENDINGS))],
        ]
        if rng.random() < 0.3:
            parts.append(f", says {_NAMES[rng.integers(len(_NAMES))]}")
        sentence = " ".join(p for p in parts if p).replace(" ,", ",")
        if sentence in seen:
            continue
        seen.add(sentence)
        label = int(positive != negated)
        if rng.random() < label_noise:
            label = 1 - label
        sentences.append(sentence)
        labels.append(label)
    return sentences, np.asarray(labels, dtype=np.int64)


# ----------------------------------------------------------------------------------- text


def train_tokenizer(sentences: list[str], vocab_size: int):
    """A byte-level BPE tokenizer trained locally on the corpus, wrapped for transformers."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(
        sentences,
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=special,
        show_progress=False,
    )
    # RoBERTa classifies from the first token, so every sequence must be framed by <s> … </s>.
    bpe._tokenizer.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>", mask_token="<mask>", cls_token="<s>", sep_token="</s>",
    )  # fmt: skip


def load_pretrained_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as error:
        raise DatasetError(
            f"{path}: cannot load a tokenizer ({str(error).splitlines()[0]})"
        ) from None


def tokenize(
    name: str, sentences: list[str], labels: np.ndarray, tokenizer, max_length: int
) -> TaskData:
    encoded = tokenizer(
        sentences, max_length=max_length, truncation=True, padding="max_length", return_tensors="pt"
    )
    return TaskData(
        name, "text", labels, input_ids=encoded["input_ids"],
        attention_mask=encoded["attention_mask"], sentences=sentences, tokenizer=tokenizer,
    )  # fmt: skip


# ----------------------------------------------------------------------------------- entry point


def resolve_path(spec: DatasetSpec, data_dir: Path | None) -> Path:
    if spec.path is None:
        raise DatasetError(f"dataset kind {spec.kind!r} needs a path")
    path = Path(spec.path)
    if not path.is_absolute():
        if data_dir is None:
            raise DatasetError(
                f"{spec.path}: relative dataset path but no data directory given (use --data-dir)"
            )
        path = data_dir / path
    return path


def check_available(spec: DatasetSpec, data_dir: Path | None) -> None:
    """Fail fast, before any training, if a real dataset's files are not where the preset says."""
    if spec.kind == "cifar10":
        directory = resolve_path(spec, data_dir)
        for name in CIFAR10_FILES:
            if not (directory / name).is_file():
                raise DatasetError(
                    f"{directory / name}: file not found; expected CIFAR-10 python version"
                )
    elif spec.kind == "sst2":
        directory = resolve_path(spec, data_dir)
        for name in ("train.tsv", "dev.tsv"):
            if not (directory / name).is_file():
                raise DatasetError(f"{directory / name}: file not found; expected GLUE SST-2 TSV")
    elif spec.kind == "purchase100":
        path = resolve_path(spec, data_dir)
        if not path.is_file():
            raise DatasetError(f"{path}: file not found; expected Purchase-100 'dataset_purchase'")


def load_text(spec: DatasetSpec, data_dir: Path | None, model: dict[str, Any]) -> TaskData:
    if spec.kind == "sst2":
        sentences, labels = load_sst2_sentences(resolve_path(spec, data_dir))
    else:
        sentences, labels = synthetic_sentences(spec.size, spec.seed, spec.label_noise)
    pretrained = model.get("pretrained")
    if pretrained:
        tokenizer = load_pretrained_tokenizer(resolve_model_path(pretrained, data_dir))
    else:
        tokenizer = train_tokenizer(sentences, spec.vocab_size)
    return tokenize(spec.kind, sentences, labels, tokenizer, spec.max_length)


def resolve_model_path(name: str, data_dir: Path | None) -> Path:
    """A pretrained model given as an absolute path, or relative to the data directory."""
    path = Path(name)
    if not path.is_absolute() and data_dir is not None:
        path = data_dir / path
    return path


@lru_cache(maxsize=8)
def _load_cached(spec: DatasetSpec, data_dir: str | None, model_key: str) -> TaskData:
    root = Path(data_dir) if data_dir else None
    if spec.kind == "cifar10":
        return load_cifar10(resolve_path(spec, root))
    if spec.kind == "purchase100":
        return load_purchase100(resolve_path(spec, root))
    if spec.kind == "digits":
        return load_digits_images(spec.noise, spec.seed)
    if spec.kind == "synthetic_purchase":
        return synthetic_purchase(spec.size, spec.seed)
    import json

    return load_text(spec, root, json.loads(model_key))


def load_dataset(spec: DatasetSpec, data_dir: Path | None, model: dict[str, Any]) -> TaskData:
    """Load (once per process) the dataset of a scenario; text needs the model for its tokenizer."""
    import json

    model_key = (
        json.dumps({"pretrained": model.get("pretrained")})
        if spec.kind in ("sst2", "synthetic_text")
        else "{}"
    )
    return _load_cached(spec, str(data_dir) if data_dir else None, model_key)


def dataset_fingerprint(data: TaskData) -> str:
    """A content hash of the tensors and labels, so a changed dataset makes old models stale."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(data.labels).tobytes())
    tensors = (
        [data.features] if data.features is not None else [data.input_ids, data.attention_mask]
    )
    for tensor in tensors:
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def texts_to_tsv(sentences: list[str], labels: np.ndarray) -> str:
    """Sentences and labels as a TSV (the text dataset file shipped to participants)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["sentence", "label"])
    writer.writerows(zip(sentences, labels.tolist(), strict=True))
    return buffer.getvalue()
