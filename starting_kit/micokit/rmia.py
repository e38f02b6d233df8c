"""RMIA offline (Zarifzadeh, Liu and Shokri, "Low-Cost High-Power Membership Inference
Attacks", ICML 2024), with the train models as reference models.

RMIA compares the target θ's likelihood ratio on a challenge point x with its ratio on
population points z:

    ratio_θ(x) = Pr(x | θ) / Pr(x),     Pr(x) = mean over reference models of Pr(x | θ')
    score(x)   = share of z with ratio_θ(x) / ratio_θ(z) > γ                     (γ = 1)

where Pr(x | θ) is the softmax probability of x's true label. Offline, only the reference
models that did *not* train on x are used, and Pr(x) is approximated from their mean as
``(1 + a) / 2 · Pr_out(x) + (1 − a) / 2`` (the paper's linear fit of the missing in-models;
``a = 0`` treats in-models as certain, ``a = 1`` ignores them). Privacy Meter
(``ml_privacy_meter/attacks.py``: ``run_rmia``, ``tune_offline_a``) tunes ``a`` per target
by attacking a paired reference model of known membership; here ``a = "auto"`` does the same
with the train models: for each target, ``a`` maximises the pooled AUC of attacking every other
train model with the remaining ones as references, so a train target's own membership never
chooses its ``a`` and its self-scores stay held out.

Population points. Which points are outside a hidden dev or final model's training set is
exactly what participants cannot see: every dataset point outside a model's challenge set is
in its training set with probability (n − m) / (N − 2m). The population is therefore drawn
from the dataset points outside *every* challenge set of the scenario (never scored, and
known to all), evenly spaced in index order, so it is the same for every target. A z that
the target did train on raises ratio_θ(z) and lowers every score of that target alike; the
ranking within a target does not change (it is by ratio_θ(x)), only the calibration across
targets, which matters because the scorer pools a scenario's models. Reference models use
only those that did not train on z, as for x.

Scores. The share of z dominated is a step function of ratio_θ(x): distinct points tie. The
score is that share interpolated linearly between neighbouring z (knots at j / (|Z| + 1)),
with tails that approach 0 and 1 without reaching them, so it keeps RMIA's ranking, breaks
its ties by ratio_θ(x) itself and stays inside (0, 1) as the scorer requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError, OptionError
from .scales import squash

POPULATION = 1000  # population points z per scenario (fewer if the dataset has fewer to spare)
A_GRID = tuple(round(0.1 * i, 1) for i in range(11))  # Privacy Meter's grid for ``a``


def population_indices(dataset_size: int, challenge: np.ndarray, count: int) -> np.ndarray:
    """``count`` dataset indices outside every challenge point, evenly spaced (all if fewer)."""
    candidates = np.setdiff1d(np.arange(dataset_size), challenge)
    if candidates.size == 0:
        raise DataError(
            "RMIA needs population points outside every challenge set, and the scenario's "
            f"challenge sets cover all {dataset_size} dataset points"
        )
    if candidates.size <= count:
        return candidates
    return candidates[np.unique(np.linspace(0, candidates.size - 1, count).round().astype(int))]


def check_offline_a(a: float | str) -> None:
    """OptionError unless ``a`` is ``"auto"`` or a number in [0, 1]."""
    if a == "auto":
        return
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 <= a <= 1.0:
        raise OptionError(f"RMIA's offline a must be 'auto' or a number in [0, 1], not {a!r}")


def log_probability(phi: np.ndarray) -> np.ndarray:
    """log Pr(y | x, θ) from φ = log p − log(1 − p), exact where p rounds to 1."""
    return -np.logaddexp(0.0, -np.asarray(phi, dtype=np.float64))


@dataclass(frozen=True)
class References:
    """What the reference models say about a set of points: the ingredients of Pr(x)."""

    # Mean Pr(y | x, θ') over the references that did not train on x; over every reference
    # for a point none of them left out.
    mean_out: np.ndarray

    @classmethod
    def of(cls, phi: np.ndarray, trained: np.ndarray) -> References:
        """From reference φ (rows: models) and their in-membership masks."""
        probability = np.exp(log_probability(phi))
        out = ~trained
        count = out.sum(axis=0)
        total = np.where(out, probability, 0.0).sum(axis=0)
        return cls(np.divide(total, count, out=probability.mean(axis=0), where=count > 0))

    def at(self, positions: np.ndarray) -> References:
        """The references' view of the points at ``positions`` only."""
        return References(self.mean_out[positions])

    def log_marginal(self, a: float) -> np.ndarray:
        """log Pr(x) offline: the linear fit of the in-models from the out-models' mean."""
        return np.log((1.0 + a) / 2.0 * self.mean_out + (1.0 - a) / 2.0)


def dominated_share(ratios: np.ndarray, population_ratios: np.ndarray) -> np.ndarray:
    """RMIA's score (share of z with a smaller log ratio), interpolated, inside (0, 1)."""
    knots = np.sort(np.asarray(population_ratios, dtype=np.float64))
    size = knots.size
    levels = np.arange(1, size + 1) / (size + 1)
    ratios = np.asarray(ratios, dtype=np.float64)
    inside = np.interp(ratios, knots, levels)
    # Beyond the extreme z: 2·squash(t) for t ≤ 0 falls from 1 to 0.
    below = levels[0] * 2.0 * squash(ratios - knots[0])
    above = 1.0 - levels[0] * 2.0 * squash(knots[-1] - ratios)
    return np.where(ratios < knots[0], below, np.where(ratios > knots[-1], above, inside))


@dataclass(frozen=True)
class Target:
    """One model attacked: its φ on its challenge points and on the population."""

    phi: np.ndarray
    population_phi: np.ndarray


def target_scores(
    target: Target, points: References, population: References, a: float
) -> np.ndarray:
    """RMIA scores of one target's challenge points, given the references' view of them."""
    ratio_x = log_probability(target.phi) - points.log_marginal(a)
    ratio_z = log_probability(target.population_phi) - population.log_marginal(a)
    return dominated_share(ratio_x, ratio_z)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted one half); 0.5 without both classes.

    Not the scorer's ``auc_from_roc``: tuning ``a`` is part of the attack, which runs without
    the scoring program (``run_attacks(score=False)``); a test pins it to scikit-learn's."""
    labels = np.asarray(labels).astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return 0.5
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = (ends - (counts - 1) / 2.0)[inverse]  # 1-based, ties share their mean rank
    rank_sum = float(average_rank[labels].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


__all__ = [
    "A_GRID",
    "POPULATION",
    "References",
    "Target",
    "auc",
    "check_offline_a",
    "dominated_share",
    "log_probability",
    "population_indices",
    "target_scores",
]
