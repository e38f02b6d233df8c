"""MICO's challenge split, made reproducible without any PRNG library.

For one model, three seeds decide everything (MICO's construction):

1. ``seed_challenge`` ranks every dataset index; the first ``2m`` are the challenge points, in
   that rank order (the *challenge order*). It is fixed before membership is decided, so the order
   says nothing about membership.
2. ``seed_membership`` ranks the ``2m`` challenge positions; the first ``m`` positions are
   members, the others non-members.
3. ``seed_training`` ranks the remaining ``N - 2m`` indices; the first ``n - m`` join the
   members to form the training set (size ``n``), the rest are the evaluation set.

A *rank* is the SHA-256 of ``"<role>:<seed>:<item>"`` read as a big-endian integer; sorting by it
is a uniformly random permutation that depends only on SHA-256 and integer ordering, so the same
seeds give the same split on every machine and with every numpy/torch version. The published
index files make even this unnecessary for participants.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Indices into the task dataset for one model."""

    challenge: np.ndarray  # 2m indices, challenge order
    membership: np.ndarray  # 2m 0/1 labels aligned with ``challenge``
    training: np.ndarray  # n indices: members + non-challenge training points, sorted
    evaluation: np.ndarray  # the remaining indices, sorted

    @property
    def members(self) -> np.ndarray:
        return self.challenge[self.membership == 1]

    @property
    def non_challenge_training(self) -> np.ndarray:
        return np.setdiff1d(self.training, self.challenge)


def rank(seed: str, role: str, items: np.ndarray) -> np.ndarray:
    """Order ``items`` by SHA-256 of (role, seed, item): a seeded, library-free permutation."""
    prefix = f"{role}:{seed}:".encode()
    keys = [hashlib.sha256(prefix + str(int(i)).encode()).digest() for i in items]
    order = sorted(range(len(items)), key=keys.__getitem__)
    return np.asarray(items)[order]


def check_sizes(dataset_size: int, n: int, m: int) -> None:
    """Reject sizes for which MICO's construction has no room."""
    if m < 1:
        raise ValueError(f"m (members per model) must be at least 1, got {m}")
    if n < m:
        raise ValueError(f"n (training set size) {n} is smaller than m (members) {m}")
    if n + m > dataset_size:
        raise ValueError(
            f"n + m = {n + m} exceeds the dataset size {dataset_size}: "
            "the m non-members must stay outside the training set"
        )


def make_split(
    dataset_size: int,
    n: int,
    m: int,
    seed_challenge: str,
    seed_membership: str,
    seed_training: str,
) -> Split:
    """Build one model's split from its three seeds (see the module docstring)."""
    check_sizes(dataset_size, n, m)
    everything = np.arange(dataset_size)
    challenge = rank(seed_challenge, "challenge", everything)[: 2 * m]
    member_positions = rank(seed_membership, "membership", np.arange(2 * m))[:m]
    membership = np.zeros(2 * m, dtype=np.int64)
    membership[member_positions] = 1
    rest = np.setdiff1d(everything, challenge)
    ranked_rest = rank(seed_training, "training", rest)
    training = np.sort(np.concatenate([challenge[membership == 1], ranked_rest[: n - m]]))
    evaluation = np.sort(ranked_rest[n - m :])
    return Split(challenge, membership, training, evaluation)
