"""The registry of target-model architectures: one record per architecture.

A record says what an architecture takes (its modality and the keys a preset's ``model`` may
set, with their defaults), how its weights are stored and how the module is built. The
generator validates presets, builds, trains and exports models from these records, and the
starting kit rebuilds and loads the published models from them, so that adding an
architecture is one :func:`register` call plus its module (``tests/test_registries.py`` adds
a toy one and trains and exports a model with it).

This module imports no torch: presets are checked, and ``--help`` answers, without it. The
module class is named as ``"package.module:Class"`` and imported when a model is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .layout import WEIGHTS_DIR, WEIGHTS_FILE

MODALITIES = ("image", "tabular", "text")


@dataclass(frozen=True)
class Architecture:
    """One architecture a preset's ``model.arch`` may name."""

    name: str
    modality: str  # the data it takes: one of MODALITIES
    # Every key a preset's model record may set, with the value it takes when left out (the
    # module constructor's defaults; tests/test_presets.py keeps the two in step).
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # "package.module:Class", called with the record's keys; None: a transformers checkpoint
    # saved with save_pretrained, built and loaded by the text path (training, micokit.loading).
    network: str | None = None
    # Shape of one input point, from the record with its defaults; None: token ids (text).
    input_shape: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None = None
    labels: int | None = None  # a fixed number of classes; None: the record's num_classes
    # Parameters of the module the record builds, for the preset's size bound; None: computed
    # by the generator's own checks (the built-in architectures) or unknown (a checkpoint).
    parameters: Callable[[Mapping[str, Any]], int] | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            known = ", ".join(MODALITIES)
            raise ValueError(f"architecture {self.name!r}: modality {self.modality!r} ({known})")

    @property
    def text(self) -> bool:
        return self.modality == "text"

    @property
    def weights(self) -> str:
        """What a model folder holds: a safetensors state dict, or a save_pretrained folder."""
        return WEIGHTS_FILE if self.network is not None else WEIGHTS_DIR

    def settings(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record's keys over the defaults, without ``arch``: the constructor's arguments."""
        return {**self.defaults, **{k: v for k, v in record.items() if k != "arch"}}

    def classes(self, record: Mapping[str, Any]) -> Any:
        return self.labels if self.labels is not None else self.settings(record).get("num_classes")

    def module_class(self) -> type:
        """The module class named by ``network`` (imports it, and with it torch)."""
        if self.network is None:
            raise ValueError(f"architecture {self.name!r} is a transformers checkpoint")
        module, _, name = self.network.partition(":")
        return getattr(importlib.import_module(module), name)


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    """Add (or replace) an architecture; presets may name it from then on, in this process."""
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def architecture(name: Any) -> Architecture:
    """The record of ``name``; KeyError naming the known architectures when there is none."""
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        known = ", ".join(ARCHITECTURES)
        raise KeyError(f"unknown architecture {name!r} (known: {known})") from None


def find(record: Mapping[str, Any]) -> Architecture | None:
    """The record's architecture, or None when it names none known (any JSON value)."""
    name = record.get("arch")
    return ARCHITECTURES.get(name) if isinstance(name, str) else None


def _image_shape(settings: Mapping[str, Any]) -> tuple[Any, ...]:
    size = settings["image_size"]
    return (settings["in_channels"], size, size)


register(
    Architecture(
        "cnn",
        "image",
        defaults={
            "in_channels": 3,
            "image_size": 32,
            "channels": [128, 256, 256],
            "conv1_kernel": 8,
            "conv1_stride": 2,
            "conv1_padding": 3,
            "num_classes": 10,
        },
        network="micokit.architectures:MicoCNN",
        input_shape=_image_shape,
    )
)
register(
    Architecture(
        "mlp",
        "tabular",
        defaults={"in_features": 600, "hidden": 128, "num_classes": 100},
        network="micokit.architectures:MicoMLP",
        input_shape=lambda settings: (settings["in_features"],),
    )
)
# RoBERTa's keys are not constructor arguments: a local checkpoint (pretrained), a config for
# a from-scratch model, and the demo's public pretraining; binary sentiment classifiers.
register(
    Architecture(
        "roberta",
        "text",
        defaults={"pretrained": None, "config": {}, "public_pretraining": None},
        labels=2,
    )
)
