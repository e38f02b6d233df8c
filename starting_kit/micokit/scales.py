"""The map from an attack's real-valued statistic to the scorer's (0, 1) scale.

Its own module so that every attack module can share it without importing another attack
(``attacks`` imports ``rmia``). See :mod:`micokit.attacks` for why not Φ or a sigmoid.
"""

from __future__ import annotations

import numpy as np


def squash(values: np.ndarray) -> np.ndarray:
    """Strictly increasing map of the real line into (0, 1) that does not saturate early."""
    t = np.asarray(values, dtype=np.float64)
    return 0.5 + 0.5 * t / (1.0 + np.abs(t))


__all__ = ["squash"]
