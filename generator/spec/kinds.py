"""The registry of dataset kinds: one record per kind a preset's ``datasets`` may name.

A record says what the kind holds (its modality, which decides the architectures that can
take it), how many points its official files have, whether it needs files under
``--data-dir`` and which function loads it. Presets are validated from these records and
``datasets.load_dataset`` dispatches on them, so that adding a dataset kind is one
:func:`register` call plus its loader (``tests/test_registries.py`` adds a toy one).

No torch here (presets are checked without it): a loader is named as ``"module:function"``
and imported when the data are loaded; a callable may be given directly too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Loader = Callable[..., Any]  # (spec: DatasetSpec, data_dir: Path | None, pretrained) -> TaskData


@dataclass(frozen=True)
class DatasetKind:
    """One kind of dataset: its data, its size and how to load it."""

    name: str
    modality: str  # image, tabular or text (micokit.archspec.MODALITIES)
    loader: str | Loader
    # Points in the official files (the loaders accept other sizes; splits.check_sizes checks
    # the real count when a model is trained); None: generated, the preset gives ``size``.
    official_size: int | None = None
    needs_path: bool = False  # its files live under the data directory (``path`` required)
    # The files it needs that are not there, one line each, before anything trains (a
    # "module:function" or callable taking (spec, data_dir)); None: nothing to check.
    missing_files: str | Loader | None = None

    @property
    def synthetic(self) -> bool:
        return self.official_size is None

    def load(self, *args: Any) -> Any:
        return _resolve(self.loader)(*args)

    def missing(self, *args: Any) -> list[str]:
        return _resolve(self.missing_files)(*args) if self.missing_files else []


def _resolve(function: str | Loader) -> Loader:
    if isinstance(function, str):
        module, _, name = function.partition(":")
        return getattr(importlib.import_module(module), name)
    return function


DATASET_KINDS: dict[str, DatasetKind] = {}


def register(kind: DatasetKind) -> DatasetKind:
    """Add (or replace) a dataset kind; presets may name it from then on, in this process."""
    DATASET_KINDS[kind.name] = kind
    return kind


_HERE = "generator.build.datasets:"
for _kind in (
    DatasetKind(
        "cifar10",
        "image",
        _HERE + "cifar10_of",
        official_size=60_000,
        needs_path=True,
        missing_files=_HERE + "missing_cifar10",
    ),
    DatasetKind(
        "sst2",
        "text",
        _HERE + "sst2_of",
        official_size=68_221,
        needs_path=True,
        missing_files=_HERE + "missing_sst2",
    ),
    DatasetKind(
        "purchase100",
        "tabular",
        _HERE + "purchase100_of",
        official_size=197_324,
        needs_path=True,
        missing_files=_HERE + "missing_purchase100",
    ),
    DatasetKind("digits", "image", _HERE + "digits_of", official_size=1_797),
    DatasetKind("synthetic_purchase", "tabular", _HERE + "synthetic_purchase_of"),
    DatasetKind("synthetic_text", "text", _HERE + "synthetic_text_of"),
):
    register(_kind)
