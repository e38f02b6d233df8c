"""Task datasets as participants get them, in one small in-memory form.

The demo archives ship their data (``<task>/data/<name>/features.npy`` + ``labels.npy``, or
``dataset.tsv`` for text). MICO-sized tasks do not: participants point the kit at their own
copy of CIFAR-10, SST-2 or Purchase-100, and the loaders below rebuild exactly the tensors the
models were trained on (same file order, same normalisation). They are re-implemented here,
not imported from the organizer's ``generator`` package, so that the kit installs on its own.
"""

from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .layout import FEATURES_FILE, LABELS_FILE, SENTENCES_FILE

if TYPE_CHECKING:  # imported where tensors are made, so `--help` answers without torch
    import torch

CIFAR10_MEAN = (0.49139968, 0.48215841, 0.44653091)
CIFAR10_STD = (0.24703223, 0.24348513, 0.26158784)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
PURCHASE_FEATURES = 600
KNOWN_KINDS = ("cifar10", "sst2", "purchase100")


@dataclass
class Points:
    """Some points of a dataset, in a given order: inputs plus true labels.

    ``features`` holds images (N×C×H×W) or tabular rows (N×F); ``sentences`` holds text.
    Text is tokenized per model (each model ships its tokenizer), see ``LoadedModel.logits``.
    """

    labels: torch.Tensor
    features: torch.Tensor | None = None
    sentences: list[str] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class TaskDataset:
    """A whole dataset, indexed by the dataset indices found in the index files.

    ``source`` is the file or folder it was read from, so that errors about its contents can
    name it; it is None for a dataset built in memory.
    """

    name: str
    labels: np.ndarray
    features: torch.Tensor | None = None
    sentences: list[str] | None = None
    source: Path | None = None

    @property
    def modality(self) -> str:
        if self.sentences is not None:
            return "text"
        return "image" if self.features.ndim == 4 else "tabular"

    def __len__(self) -> int:
        return len(self.labels)

    def check_indices(self, indices: np.ndarray, source: str | Path | None = None) -> None:
        """Raise DataError naming ``source`` (the index file) if an index is outside the data.

        numpy and torch would raise IndexError, or (negative indices) silently count from the
        end; either way the real cause, a wrong dataset or a damaged file, would be hidden.
        """
        idx = np.asarray(indices, dtype=np.int64)
        if not idx.size or (idx.min() >= 0 and idx.max() < len(self)):
            return
        bad = int(idx.max() if idx.max() >= len(self) else idx.min())
        where = f"{source}: index {bad}" if source else f"an index file asks for index {bad}"
        raise DataError(
            f"{where} is outside dataset {self.name!r} ({len(self)} points); is it the right "
            "dataset (same files, same order)?"
        )

    def points(self, indices: np.ndarray, source: str | Path | None = None) -> Points:
        """The points at ``indices``, in that order; ``source`` names the index file for errors."""
        import torch

        idx = np.asarray(indices, dtype=np.int64)
        self.check_indices(idx, source)
        labels = torch.as_tensor(self.labels[idx], dtype=torch.int64)
        if self.sentences is not None:
            return Points(labels, sentences=[self.sentences[i] for i in idx.tolist()])
        return Points(labels, features=self.features[torch.as_tensor(idx)])


# ----------------------------------------------------------------------------- shipped data


def load_shipped(folder: Path) -> TaskDataset:
    """A dataset shipped inside a demo archive: ``features.npy``/``labels.npy`` or ``dataset.tsv``."""
    name = folder.name
    if (folder / SENTENCES_FILE).is_file():
        sentences, labels = read_sentence_tsv(folder / SENTENCES_FILE)
        return TaskDataset(name, labels, sentences=sentences, source=folder / SENTENCES_FILE)
    features, labels = folder / FEATURES_FILE, folder / LABELS_FILE
    if not features.is_file() or not labels.is_file():
        raise DataError(
            f"{folder}: expected {FEATURES_FILE} and {LABELS_FILE}, or {SENTENCES_FILE}"
        )
    x, y = _read_npy(features), _read_npy(labels)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise DataError(f"{labels}: expected a 1-D integer array, found {y.dtype} {y.shape}")
    if x.ndim < 2 or not np.issubdtype(x.dtype, np.number):
        raise DataError(
            f"{features}: expected a numeric array, one row per point, found {x.dtype} {x.shape}"
        )
    if len(x) != len(y):
        raise DataError(f"{folder}: {len(x)} feature rows but {len(y)} labels")
    import torch

    tensor = torch.from_numpy(x.astype(np.float32))
    return TaskDataset(name, y.astype(np.int64), features=tensor, source=folder)


def _read_npy(path: Path) -> np.ndarray:
    """One ``.npy`` file, never unpickling (a shipped array has no business holding objects)."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: cannot read the numpy file ({error})") from None


def read_sentence_tsv(path: Path, quoting: int = csv.QUOTE_MINIMAL) -> tuple[list[str], np.ndarray]:
    """A TSV with a header row and columns ``sentence`` and ``label`` (0/1): SST-2 and demo text.

    GLUE's SST-2 files use no quoting at all (a sentence may start with ``"``), so they are read
    with ``csv.QUOTE_NONE``; the demo's own TSV is written with minimal quoting.
    """
    expected = "a TSV with a header row and columns 'sentence' and 'label'"
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected {expected}")
    try:
        return _sentence_rows(path, quoting, expected)
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not {expected} ({error})") from None


def _sentence_rows(path: Path, quoting: int, expected: str) -> tuple[list[str], np.ndarray]:
    sentences, labels = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=quoting)
        if not reader.fieldnames or not {"sentence", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path}: header {reader.fieldnames}; expected {expected}")
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("0", "1") or not row["sentence"]:
                raise DataError(f"{path}:{line}: bad row; expected {expected}")
            sentences.append(row["sentence"])
            labels.append(int(row["label"]))
    return sentences, np.asarray(labels, dtype=np.int64)


# ----------------------------------------------------------------------------- real datasets


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10 batches are pickles: allow only the numpy pieces they are made of."""

    def find_class(self, module: str, name: str):
        numpy_part = module.startswith("numpy") and name in ("_reconstruct", "ndarray", "dtype")
        if numpy_part or (module, name) == ("_codecs", "encode"):  # protocol-2 bytes from Python 3
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_cifar10(directory: Path) -> TaskDataset:
    """CIFAR-10 python version: data_batch_1..5 then test_batch (60,000 images), standardised."""
    images, labels = [], []
    for name in CIFAR10_FILES:
        path = directory / name
        if not path.is_file():
            raise DataError(f"{path}: file not found; expected the CIFAR-10 python version")
        try:
            with path.open("rb") as handle:
                batch = _NumpyOnlyUnpickler(handle, encoding="bytes").load()
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        except Exception as error:  # noqa: BLE001 - any failure means "not this format"
            raise DataError(f"{path}: not a CIFAR-10 python batch ({error})") from None
    pixels = np.concatenate(images).astype(np.float32) / 255.0
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    import torch

    features = torch.from_numpy((pixels - mean) / std)
    return TaskDataset("cifar10", np.concatenate(labels), features=features, source=directory)


def load_purchase100(path: Path) -> TaskDataset:
    """Purchase-100 ``dataset_purchase``: per line the class 1..100, then 600 binary features."""
    if path.is_dir():
        path = path / "dataset_purchase"
    if not path.is_file():
        raise DataError(f"{path}: file not found; expected Purchase-100 'dataset_purchase'")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int16, ndmin=2)
    except ValueError as error:
        raise DataError(f"{path}: not Purchase-100 ({error})") from None
    if table.shape[1] != PURCHASE_FEATURES + 1:
        raise DataError(f"{path}: {table.shape[1]} columns, expected {PURCHASE_FEATURES + 1}")
    classes, bits = table[:, 0], table[:, 1:]
    if classes.min() < 1 or classes.max() > 100 or not np.isin(bits, (0, 1)).all():
        raise DataError(f"{path}: values out of range; expected classes 1..100 and 0/1 features")
    import torch

    features = torch.from_numpy(table[:, 1:].astype(np.float32))
    labels = (table[:, 0] - 1).astype(np.int64)
    return TaskDataset("purchase100", labels, features=features, source=path)


def load_sst2(directory: Path) -> TaskDataset:
    """SST-2 from GLUE: train.tsv then dev.tsv (67,349 + 872 sentences), in file order."""
    train_s, train_l = read_sentence_tsv(directory / "train.tsv", csv.QUOTE_NONE)
    dev_s, dev_l = read_sentence_tsv(directory / "dev.tsv", csv.QUOTE_NONE)
    labels = np.concatenate([train_l, dev_l])
    return TaskDataset("sst2", labels, sentences=train_s + dev_s, source=directory)


def load_local(kind: str, path: Path) -> TaskDataset:
    """One of MICO's datasets from the participant's own copy."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or directory (dataset {kind!r})")
    if kind == "cifar10":
        return load_cifar10(path)
    if kind == "sst2":
        return load_sst2(path)
    if kind == "purchase100":
        return load_purchase100(path)
    raise DataError(f"dataset kind {kind!r} has no local loader (known: {', '.join(KNOWN_KINDS)})")
