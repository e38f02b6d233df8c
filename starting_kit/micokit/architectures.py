"""Target-model architectures, shared by the generator and by participants.

The generator imports this module to build the models it trains, and participants use it to
rebuild the same modules before loading the published weights, so the two can never disagree.
Architecture parameters live in the preset and are published in each task's ``manifest.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .archspec import architecture, find


class MicoCNN(nn.Module):
    """MICO's CIFAR-10 CNN; widths and the first convolution are parameters for small images.

    With the defaults (3×32×32 input) this is exactly MICO's network: conv 3→128 k8 s2 p3, tanh,
    maxpool 3 stride 1, conv 128→256 k3, tanh, conv 256→256 k3, tanh, avgpool 2, flatten,
    linear 6400→10.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        channels: tuple[int, int, int] = (128, 256, 256),
        conv1_kernel: int = 8,
        conv1_stride: int = 2,
        conv1_padding: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, conv1_kernel, stride=conv1_stride, padding=conv1_padding),
            nn.Tanh(),
            nn.MaxPool2d(3, stride=1),
            nn.Conv2d(c1, c2, 3),
            nn.Tanh(),
            nn.Conv2d(c2, c3, 3),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        self.classifier = nn.Linear(flat, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MicoMLP(nn.Module):
    """MICO's Purchase-100 MLP: 600 → 128, tanh, → 100."""

    def __init__(self, in_features: int = 600, hidden: int = 128, num_classes: int = 100) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden), nn.Tanh(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def build_model(arch: Mapping[str, Any]) -> nn.Module:
    """Build an untrained model from its architecture record (``arch`` names the registry entry).

    Transformers checkpoints (RoBERTa) are not built here: they are saved with
    ``save_pretrained`` and loaded with ``transformers`` (see :func:`micokit.loading.load_model`).
    Lists in the record (a CNN's ``channels``) reach the constructor as tuples.
    """
    spec = architecture(arch["arch"])
    if spec.network is None:
        raise ValueError(f"build_model builds modules, not the transformers model {spec.name!r}")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.settings(arch).items()}
    return spec.module_class()(**params)


def input_shape(arch: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Shape of one input point (C×H×W for the CNN, F for the MLP); None for text models.

    Read from the record and the registry's defaults, so that a dataset can be checked against
    a manifest's architecture before any model is built.
    """
    spec = find(arch)
    if spec is None or spec.input_shape is None:
        return None
    return spec.input_shape(spec.settings(arch))


def num_classes(arch: Mapping[str, Any]) -> Any:
    """How many classes the architecture's logits have; None for an architecture unknown here."""
    spec = find(arch)
    return None if spec is None else spec.classes(arch)
