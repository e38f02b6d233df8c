"""The baseline attacks by name: what each needs and which CLI options are its own.

Kept free of torch so that ``micokit --help`` and option checks stay instant; the attacks
themselves live in :mod:`micokit.attacks`, which dispatches on these names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Baseline:
    """One attack: its title, whether it runs the train models as shadows, its own options."""

    title: str
    shadows: bool
    options: tuple[tuple[str, str], ...] = ()  # (argparse dest, flag) that only it takes


BASELINES = {
    "loss": Baseline("loss threshold", shadows=False),
    "lira": Baseline(
        "LiRA",
        shadows=True,
        options=(("online", "--online"), ("variance", "--variance"), ("no_shrink", "--no-shrink")),
    ),
    "rmia": Baseline(
        "RMIA",
        shadows=True,
        options=(("offline_a", "--offline-a"), ("population", "--population")),
    ),
}
ATTACKS = tuple(BASELINES)

__all__ = ["ATTACKS", "BASELINES", "Baseline"]
