"""The on-disk layouts of docs/layouts.md, in code: one definition of every phase, format tag
and file name that the generator and the starting kit write or read.

It lives in the starting kit because participants install micokit alone and the generator
already depends on it; the standalone scoring program (which must run on the platforms'
workers with nothing installed) keeps its own copies of the few names it needs, and
``tests/test_layout.py`` pins them equal to these.

The tables below are the contract: what a model folder holds (:data:`MODEL_FILES`), what the
participant archive copies of it per phase (:data:`PUBLIC_FILES`), and what must never reach a
participant for dev and final (:data:`GROUND_TRUTH_FILES`, which the bundle's leak check
uses). Renaming a file here renames it everywhere, so the leak check cannot silently stop
covering a renamed file.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

# ----------------------------------------------------------------------------- phases and tags

PHASES = ("train", "dev", "final")
# The phases a submission answers and whose ground truth stays with the organizer.
SECRET_PHASES = ("dev", "final")
PUBLIC_FORMAT = "mico-public/1"  # <task>/manifest.json of the participant archive
REFERENCE_FORMAT = "mico-reference/1"  # manifest.json of the scorer's reference data

# ----------------------------------------------------------------------------- file names

MANIFEST_FILE = "manifest.json"
METADATA_FILE = "metadata.json"  # written last: its presence means the model folder is complete
PRIVATE_FILE = "private.json"  # training seed and task key: organizer only, every phase
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_DIR = "model"  # RoBERTa: a save_pretrained folder holding WEIGHTS_FILE
CHALLENGE_FILE = "challenge_indices.csv"
TRAINING_FILE = "training_indices.csv"
SOLUTION_FILE = "solution.csv"
NONCHALLENGE_FILE = "nonchallenge_training_indices.csv"  # DP distinguisher: disclosed data
# MICO's seed names, one per role of seeds.model_seeds.
SEED_FILES = {
    "challenge": "seed_challenge",
    "membership": "seed_membership",
    "training": "seed_training",
}
PREDICTION_FILE = "prediction.csv"  # one per model in a submission
PREDICTION_SYNONYM = "predictions.csv"  # accepted by the scorer as well
# Demo archives ship their data: <task>/DATA_DIR/<dataset>/ holds FEATURES_FILE + LABELS_FILE
# (numpy, never pickled) or, for text, SENTENCES_FILE (tab-separated sentence and label).
DATA_DIR = "data"
FEATURES_FILE = "features.npy"
LABELS_FILE = "labels.npy"
SENTENCES_FILE = "dataset.tsv"
PUBLISHED_SUMS = "SHA256SUMS"  # the participant archives only: published beside them
ORGANIZER_SUMS = "SHA256SUMS.organizer"  # the platform bundles and reports: kept private

# What a complete model folder holds besides its weights, in the order the store writes them.
MODEL_FILES = (
    CHALLENGE_FILE,
    TRAINING_FILE,
    SOLUTION_FILE,
    *SEED_FILES.values(),
    PRIVATE_FILE,
    METADATA_FILE,
)

# The allow-list of the participant archive: files copied verbatim per phase (weights and
# a filtered metadata.json are added by the export).
PUBLIC_FILES = {
    "train": (
        CHALLENGE_FILE,
        TRAINING_FILE,
        SOLUTION_FILE,
        SEED_FILES["challenge"],
        SEED_FILES["membership"],
        SEED_FILES["training"],
    ),
    "dev": (CHALLENGE_FILE, SEED_FILES["challenge"]),
    "final": (CHALLENGE_FILE, SEED_FILES["challenge"]),
}
# DP distinguisher tasks also disclose, for dev and final, the training seed and the training
# indices other than the challenge points (NONCHALLENGE_FILE, computed by the export).
DISCLOSED_TRAINING_FILES = (SEED_FILES["training"],)
# The deny-list: any of these in a dev or final folder of a public archive is a leak.
GROUND_TRUTH_FILES = (SOLUTION_FILE, TRAINING_FILE, SEED_FILES["membership"], PRIVATE_FILE)

# ----------------------------------------------------------------------------- model identity


def model_name(index: int) -> str:
    return f"model_{index}"


@dataclass(frozen=True, order=True)
class ModelId:
    """The identity of one model: everything else follows from it and the preset."""

    task: str
    scenario: str
    phase: str
    index: int

    @property
    def name(self) -> str:
        return model_name(self.index)

    def path(self, root: Path) -> Path:
        """Its folder under a store, a public tree or reference data (all share this shape)."""
        return Path(root) / self.task / self.scenario / self.phase / self.name

    def __str__(self) -> str:
        return f"{self.task}/{self.scenario}/{self.phase}/{self.name}"


# ----------------------------------------------------------------------------- index files


def write_indices(path: Path, values: Iterable[int]) -> None:
    """One integer per line: the index and solution files participants read without any PRNG."""
    path.write_text("".join(f"{int(v)}\n" for v in values), encoding="ascii")


def parse_indices(text: str) -> np.ndarray:
    """The integers of an index or solution file (ValueError when it holds anything else)."""
    return np.asarray([int(x) for x in text.split()], dtype=np.int64)


# ----------------------------------------------------------------------------- manifests


def reference_manifest(
    task: str, phase: str | None, scenarios: Iterable[dict], disclosure: dict | None = None
) -> dict:
    """The scorer's reference manifest (docs/layouts.md, "Reference data").

    ``scenarios`` are ``{"id", "label", "epsilon", "delta", "models"}`` in the task's order,
    ``models`` mapping each phase a submission must contain to {model name: challenge points}.
    """
    manifest = {
        "format": REFERENCE_FORMAT,
        "task": task,
        "phase": phase,
        "scenarios": list(scenarios),
    }
    if disclosure is not None:
        manifest["disclosure"] = disclosure
    return manifest


# ----------------------------------------------------------------------------- zips

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def write_zip_entries(fileobj: IO[bytes], entries: Iterable[tuple[str, bytes | Path]]) -> None:
    """A reproducible zip: same entries, same bytes.

    Entries sorted by name, stamped 1980-01-01, mode 0644 on a Unix host, deflated at level 6,
    so that checksums change only when content does. Both submissions (micokit pack) and
    bundles (generator) are written by this one function.
    """
    with zipfile.ZipFile(fileobj, "w") as archive:
        for name, content in sorted(entries, key=lambda e: e[0]):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the permission bits above are honoured
            data = content.read_bytes() if isinstance(content, Path) else content
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
