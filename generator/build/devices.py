"""Which torch device a run may use: checked once, before any model trains on it.

``generate`` and ``plan`` both take ``--device``; a choice this machine cannot honour (a CUDA
index it lacks, MPS where there is none) is a one-line usage error rather than a traceback
from the first worker.
"""

from __future__ import annotations

from ..errors import UsageError
from ..spec.presets import DEVICE_PATTERN


def check_device(device: str) -> None:
    """Refuse a device this machine cannot use (torch is imported only for cuda and mps)."""
    if not DEVICE_PATTERN.fullmatch(device):
        raise UsageError(f"--device {device!r}: expected auto, cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            raise UsageError(f"--device {device!r}: this machine has {count} CUDA device(s)")
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise UsageError("--device 'mps': this machine has no usable MPS device")


def usable_device(requested: str):
    """The torch device for ``--device`` (auto: the first GPU if any), after :func:`check_device`."""
    from .training import pick_device

    check_device(requested)
    return pick_device(requested)
