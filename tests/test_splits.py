"""MICO's three-seed split: sizes, disjointness, golden indices and independence of order."""

from __future__ import annotations

import numpy as np
import pytest

from generator.spec.seeds import derive_seed, model_seeds, random_seed
from generator.spec.splits import make_split

SEEDS = ("00" * 16, "11" * 16, "22" * 16)


def test_golden_indices_are_pinned():
    # Same seeds, same split, on every machine and library version: these numbers are a contract.
    split = make_split(20, 8, 3, *SEEDS)
    assert split.challenge.tolist() == [17, 3, 10, 12, 11, 8]
    assert split.membership.tolist() == [0, 0, 1, 0, 1, 1]
    assert split.training.tolist() == [0, 4, 6, 8, 9, 10, 11, 15]
    assert split.evaluation.tolist() == [1, 2, 5, 7, 13, 14, 16, 18, 19]


@pytest.mark.parametrize("size,n,m", [(1797, 120, 50), (4000, 1000, 50), (300, 250, 50)])
def test_sizes_and_disjointness(size, n, m):
    split = make_split(size, n, m, random_seed(), random_seed(), random_seed())
    challenge, training, evaluation = map(set, (split.challenge, split.training, split.evaluation))
    assert len(split.challenge) == len(challenge) == 2 * m
    assert split.membership.sum() == m
    assert len(split.training) == len(training) == n
    assert set(split.members) <= training
    assert not (set(split.challenge[split.membership == 0]) & training)
    assert not (evaluation & training) and not (evaluation & challenge)
    assert len(training | evaluation | challenge) == size


def test_same_seeds_same_split_and_new_seeds_new_split():
    first, again = make_split(500, 100, 20, *SEEDS), make_split(500, 100, 20, *SEEDS)
    for a, b in zip(first.__dict__.values(), again.__dict__.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = make_split(500, 100, 20, SEEDS[0], SEEDS[1], random_seed())
    assert not np.array_equal(first.training, other.training)


def test_challenge_order_does_not_depend_on_membership():
    # Changing only the membership seed must leave the challenge points and their order intact.
    a = make_split(500, 100, 20, SEEDS[0], random_seed(), SEEDS[2])
    b = make_split(500, 100, 20, SEEDS[0], random_seed(), SEEDS[2])
    np.testing.assert_array_equal(a.challenge, b.challenge)
    assert not np.array_equal(a.membership, b.membership)
    # ...and the non-challenge training points too (what the DP distinguisher discloses).
    np.testing.assert_array_equal(a.non_challenge_training, b.non_challenge_training)


@pytest.mark.parametrize("size,n,m", [(100, 90, 20), (100, 10, 20), (100, 50, 0)])
def test_impossible_sizes_are_rejected(size, n, m):
    with pytest.raises(ValueError):
        make_split(size, n, m, *SEEDS)


def test_master_seed_derivation_is_deterministic_and_separates_roles():
    seeds = model_seeds("master", "image", "image_inf", "dev", 0)
    assert seeds == model_seeds("master", "image", "image_inf", "dev", 0)
    assert seeds["membership"] == derive_seed(
        "master", "image", "image_inf", "dev", 0, "membership"
    )
    assert seeds["membership"] == "4a56def6a7e961ad860a1f79e9f60319"
    assert len(set(seeds.values())) == len(seeds)
    assert seeds != model_seeds("master", "image", "image_inf", "dev", 1)
    assert seeds != model_seeds("other master", "image", "image_inf", "dev", 0)


def test_secure_mode_draws_fresh_seeds():
    assert model_seeds(None, "t", "s", "dev", 0) != model_seeds(None, "t", "s", "dev", 0)
