"""Task datasets: the official on-disk formats of MICO's datasets and the embedded demo sets.

Everything is read from local files or built deterministically in-process; nothing downloads.
A missing or malformed file raises :class:`DatasetError` naming the path and the expected
format, so that ``generate`` fails before training anything.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from micokit.datasets import CIFAR10_FILES, PURCHASE_FEATURES

from ..errors import DatasetError
from ..spec.kinds import DATASET_KINDS
from ..spec.presets import DatasetSpec

if TYPE_CHECKING:  # torch is imported where tensors are made: `--help` must not wait for it
    import torch
    from torch.utils.data import TensorDataset

PURCHASE_CLASSES = 100


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
        import torch
        from torch.utils.data import TensorDataset

        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        labels = torch.as_tensor(self.labels)[idx]
        if self.modality == "text":
            return TensorDataset(self.input_ids[idx], self.attention_mask[idx], labels)
        return TensorDataset(self.features[idx], labels)


# ------------------------------------------------------------------------- MICO's real datasets
# Read with the participants' own loaders (micokit.datasets), so that organizers and
# participants build exactly the same tensors from the same files; errors become DatasetError.


def _from_kit(loader, path: Path):
    from micokit.errors import DataError

    try:
        return loader(path)
    except DataError as error:
        raise DatasetError(str(error)) from None


def load_cifar10(directory: Path) -> TaskData:
    """CIFAR-10, python version: ``data_batch_1..5`` then ``test_batch`` (60,000 images)."""
    from micokit.datasets import load_cifar10 as kit_loader

    kit = _from_kit(kit_loader, directory)
    return TaskData("cifar10", "image", kit.labels, features=kit.features)


def load_purchase100(path: Path) -> TaskData:
    """Purchase-100 ``dataset_purchase``: class 1..100, then 600 binary features, per line."""
    from micokit.datasets import load_purchase100 as kit_loader

    kit = _from_kit(kit_loader, path)
    return TaskData("purchase100", "tabular", kit.labels, features=kit.features)


def load_sst2_sentences(directory: Path) -> tuple[list[str], np.ndarray]:
    """SST-2 from GLUE: ``train.tsv`` then ``dev.tsv`` (67,349 + 872 sentences)."""
    from micokit.datasets import load_sst2 as kit_loader

    kit = _from_kit(kit_loader, directory)
    return kit.sentences, kit.labels


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
    import torch

    features = torch.from_numpy(pixels[:, None, :, :].copy())
    return TaskData("digits", "image", digits.target.astype(np.int64), features=features)


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
    import torch

    tensor = torch.from_numpy(features.astype(np.float32))
    return TaskData("synthetic_purchase", "tabular", labels.astype(np.int64), features=tensor)


_SUBJECTS = [
    "the film",
    "this movie",
    "the plot",
    "the acting",
    "the soundtrack",
    "the director's new work",
    "the script",
    "the ending",
    "the cast",
    "this sequel",
    "the story",
    "the cinematography",
    "the dialogue",
    "the premise",
    "the lead actor",
    "the pacing",
    "this documentary",
    "the score",
    "the comedy",
    "the thriller",
    "the visual effects",
    "the screenplay",
    "the performance",
]
_POSITIVE = [
    "wonderful",
    "moving",
    "brilliant",
    "delightful",
    "gripping",
    "charming",
    "superb",
    "touching",
    "clever",
    "beautiful",
    "hilarious",
    "memorable",
    "stunning",
    "heartfelt",
    "smart",
    "engaging",
]
_NEGATIVE = [
    "dull",
    "tedious",
    "clumsy",
    "boring",
    "awful",
    "predictable",
    "shallow",
    "messy",
    "lifeless",
    "painful",
    "forgettable",
    "bland",
    "confusing",
    "sloppy",
    "tiresome",
    "weak",
]
# Words that say nothing about liking the film: a neutral sentence's label is a coin flip.
_NEUTRAL = (
    "long different unusual loud slow familiar ambitious odd quiet strange busy modest plain dark "
    "simple old-fashioned"
).split()
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
    "",
    "",
    "from start to finish",
    "despite its flaws",
    "in every scene",
    "for most of its length",
    "by the final act",
    "even on a second viewing",
    "for a summer release",
    "at times",
    "compared to the original",
    "in the best possible way",
    "for better or worse",
]
_SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tor",
    "vex",
    "dal",
    "zu",
    "pim",
    "sha",
    "qua",
    "bel",
    "nor",
    "fi",
    "gan",
    "hol",
    "jus",
    "wen",
    "ty",
    "xo",
    "ri",
    "mon",
    "sel",
    "dar",
]
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
    size: int, seed: int, label_noise: float = 0.08, ambiguous: float = 0.0, negation: float = 0.2
) -> tuple[list[str], np.ndarray]:
    """A deterministic sentiment corpus of varied template sentences with labels 0/1.

    Sentences combine a subject, a made-up title, a verb, an optional intensifier, a sentiment
    word, optional negation ("not") that flips the label, an ending and sometimes a reviewer's
    aside. The titles (three random syllables) give each sentence content of its own, as real
    reviews have, so a model can memorise individual training sentences rather than only the
    template. A fraction ``label_noise`` of labels is flipped, as in crowd-labelled data, so a
    model can only fit those by memorising them — which is what membership inference detects.

    A fraction ``ambiguous`` of sentences carries a neutral word instead of a sentiment word and
    a fair coin as its label, like the reviews no annotator agrees on. A model can fit those
    members only by memorising them too, but unlike a flipped label, fitting one contradicts
    nothing the model needs for the other sentences, so memorisation costs no test accuracy
    (a flipped clear sentence pulls its sentiment word the wrong way).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    sentences, labels, seen = [], [], set()
    while len(sentences) < size:
        positive = bool(rng.integers(2))
        negated = rng.random() < negation
        word = (_POSITIVE if positive else _NEGATIVE)[rng.integers(16)]
        unclear = ambiguous > 0 and rng.random() < ambiguous
        if unclear:
            word = _NEUTRAL[rng.integers(len(_NEUTRAL))]
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
        title = "".join(_SYLLABLES[rng.integers(len(_SYLLABLES))] for _ in range(3)).capitalize()
        parts.insert(1, f"of {title}")
        sentence = " ".join(p for p in parts if p).replace(" ,", ",")
        if sentence in seen:
            continue
        seen.add(sentence)
        label = int(positive != negated)
        if unclear:
            label = int(rng.integers(2))
        elif rng.random() < label_noise:
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
        tokenizer_object=bpe._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
    )


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
        name,
        "text",
        labels,
        input_ids=encoded["input_ids"],
        attention_mask=encoded["attention_mask"],
        sentences=sentences,
        tokenizer=tokenizer,
    )


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


def check_available(specs: list[DatasetSpec], data_dir: Path | None) -> None:
    """Fail fast, before any training, if real datasets' files are not where the preset says.

    Every missing file of every dataset is named in the one error, so that an organizer
    setting up four datasets fixes them in one go rather than in four reruns.
    """
    problems: list[str] = []
    for spec in specs:
        try:
            found = _missing_files(spec, data_dir)
        except OSError as error:  # Path.is_file raises for e.g. a permission error on a parent
            found = [f"{error.filename or spec.path}: cannot read ({error.strerror})"]
        problems += [problem for problem in found if problem not in problems]
    if problems:
        more = f" (also: {'; '.join(problems[1:])})" if len(problems) > 1 else ""
        raise DatasetError(problems[0] + more)


def _missing_files(spec: DatasetSpec, data_dir: Path | None) -> list[str]:
    kind = DATASET_KINDS[spec.kind]
    return kind.missing(spec, data_dir) if kind.missing else []


def _missing_in_folder(names, expected: str):
    def missing(spec: DatasetSpec, data_dir: Path | None) -> list[str]:
        directory = resolve_path(spec, data_dir)
        return [
            f"{directory / name}: file not found; {expected}"
            for name in names
            if not (directory / name).is_file()
        ]

    return missing


# What each real dataset kind needs on disk, and how to say what was expected
# (generator.spec.kinds names these).
missing_cifar10 = _missing_in_folder(CIFAR10_FILES, "expected CIFAR-10 python version")
missing_sst2 = _missing_in_folder(("train.tsv", "dev.tsv"), "expected GLUE SST-2 TSV")


def missing_purchase100(spec: DatasetSpec, data_dir: Path | None) -> list[str]:
    path = resolve_path(spec, data_dir)
    if not path.is_file():
        return [f"{path}: file not found; expected Purchase-100 'dataset_purchase'"]
    return []


def text_task(
    spec: DatasetSpec, sentences: list[str], labels: np.ndarray, data_dir: Path | None, pretrained
) -> TaskData:
    """Sentences tokenized with the pretrained model's tokenizer, or one trained on them."""
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


# The loaders generator.spec.kinds registers: (spec, data directory, pretrained model) -> TaskData.


def cifar10_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    return load_cifar10(resolve_path(spec, root))


def purchase100_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    return load_purchase100(resolve_path(spec, root))


def digits_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    return load_digits_images(spec.noise, spec.seed)


def synthetic_purchase_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    return synthetic_purchase(spec.size, spec.seed)


def sst2_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    sentences, labels = load_sst2_sentences(resolve_path(spec, root))
    return text_task(spec, sentences, labels, root, pretrained)


def synthetic_text_of(spec: DatasetSpec, root: Path | None, pretrained: str | None) -> TaskData:
    sentences, labels = synthetic_sentences(
        spec.size, spec.seed, spec.label_noise, spec.ambiguous, spec.negation
    )
    return text_task(spec, sentences, labels, root, pretrained)


@lru_cache(maxsize=8)
def _load_cached(spec: DatasetSpec, data_dir: str | None, pretrained: str | None) -> TaskData:
    root = Path(data_dir) if data_dir else None
    return DATASET_KINDS[spec.kind].load(spec, root, pretrained)


def load_dataset(spec: DatasetSpec, data_dir: Path | None, model: dict[str, Any]) -> TaskData:
    """Load (once per process) the dataset of a scenario.

    Text is tokenized with the pretrained model's tokenizer when there is one, so the cache is
    keyed by that model too; other datasets ignore it.
    """
    text = DATASET_KINDS[spec.kind].modality == "text"
    pretrained = model.get("pretrained") if text else None
    return _load_cached(spec, str(data_dir) if data_dir else None, pretrained)


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
