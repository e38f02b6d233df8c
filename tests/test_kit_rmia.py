"""RMIA offline: population points no model is scored on, an interpolated score that keeps
RMIA's ranking inside (0, 1), held-out references and tuning, and the calibration across
target models that the population comparison buys over the loss attack."""

from __future__ import annotations

import numpy as np
import pytest
from micokit.attacks import ScenarioSignals, loss_scores, rmia_scores, tune_offline_a
from micokit.errors import DataError, OptionError
from micokit.loading import Scenario
from micokit.rmia import (
    References,
    auc,
    check_offline_a,
    dominated_share,
    log_probability,
    population_indices,
)
from sklearn.metrics import roc_auc_score


def test_population_lies_outside_every_challenge_set_evenly_spaced():
    challenge = np.array([0, 3, 4, 9, 10, 11])
    z = population_indices(20, challenge, 5)
    assert len(z) == 5 and not set(z) & set(challenge)
    assert np.array_equal(z, population_indices(20, challenge[::-1], 5))  # order-free
    assert z[0] == 1 and z[-1] == 19  # spread over the candidates, ends included
    assert np.array_equal(
        population_indices(20, challenge, 100), np.setdiff1d(range(20), challenge)
    )
    with pytest.raises(DataError, match="cover all 6 dataset points"):
        population_indices(6, np.arange(6), 5)


def test_score_is_rmias_share_interpolated_strictly_increasing_inside_the_unit_interval():
    rng = np.random.default_rng(0)
    population = rng.normal(0, 1, 50)
    ratios = np.sort(np.concatenate([rng.normal(0, 2, 400), [-1e9, -40.0, 40.0, 1e9]]))
    scores = dominated_share(ratios, population)
    assert np.all(np.diff(scores) > 0) and scores.min() > 0 and scores.max() < 1
    # RMIA's own score (γ = 1): the share of z whose ratio the point's exceeds; ours never
    # reverses an order it states, and breaks only its ties.
    share = (ratios[:, None] > population[None, :]).mean(axis=1)
    assert np.all(np.diff(scores)[np.diff(share) > 0] > 0)
    knots = np.sort(population)
    assert dominated_share(knots[[9]], population)[0] == pytest.approx(10 / 51)


def test_log_probability_is_exact_where_the_probability_rounds_to_one():
    phi = np.array([-30.0, 0.0, 2.0, 40.0, 800.0])
    assert np.allclose(np.exp(log_probability(phi)), 1 / (1 + np.exp(-phi)))
    assert log_probability(np.array([40.0]))[0] == pytest.approx(-np.exp(-40.0), rel=1e-9)
    assert np.all(np.diff(log_probability(phi)) > 0)


def test_marginal_uses_out_references_and_falls_back_to_all():
    phi = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])  # probabilities 0.5, 0.75 | 0.5, 0.5
    trained = np.array([[False, True], [True, True]])
    refs = References.of(phi, trained)
    assert refs.mean_out[0] == pytest.approx(0.5)  # only model 0 left point 0 out
    assert refs.mean_out[1] == pytest.approx(0.5)  # no out-reference: every reference
    assert np.exp(refs.log_marginal(1.0)[0]) == pytest.approx(0.5)
    assert np.exp(refs.log_marginal(0.0)[0]) == pytest.approx(0.75)  # (0.5 + 1) / 2


def test_auc_counts_ties_as_one_half_like_sklearn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.7, 1), 1)  # many ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc(np.ones(4), np.arange(4)) == 0.5


def _signals(rng, shadows=8, points=120, population=300, offset_sd=2.0, shift=2.5):
    """Train models only: φ = point difficulty + a model-wide confidence offset + noise,
    members boosted. The offset shifts a model's every φ alike, which pooling across models
    confuses with membership unless each model is compared with itself on population points."""
    scenario = Scenario("s", 1, "s", None, 1e-5, "d", 10, points // 2, {}, None, {}, {})
    difficulty = rng.normal(0, 2, points + population)
    offset = rng.normal(0, offset_sd, (shadows, 1))
    trained = rng.random((shadows, points + population)) < 0.3
    phi = difficulty + offset + rng.normal(0, 0.5, trained.shape) + shift * trained
    names = [f"model_{i}" for i in range(shadows)]
    union = np.arange(points)
    signals = ScenarioSignals(
        scenario, {}, {}, {}, union, names, phi[:, :points], trained[:, :points]
    )
    signals.population = np.arange(points, points + population)
    signals.shadow_population_phi = phi[:, points:]
    signals.shadow_population_in = trained[:, points:]
    for i, name in enumerate(names):
        signals.targets[("train", name)] = phi[i, :points].copy()
        signals.population_phi[("train", name)] = phi[i, points:].copy()
        signals.columns[("train", name)] = union
        signals.membership[name] = trained[i, :points].astype(int)
    return signals


def _pooled_auc(signals, scores) -> float:
    names = signals.shadow_names
    labels = np.concatenate([signals.membership[n] for n in names])
    return roc_auc_score(labels, np.concatenate([scores[("train", n)] for n in names]))


def test_rmia_calibrates_models_and_points_that_the_loss_attack_cannot():
    signals = _signals(np.random.default_rng(2))
    rmia, loss = rmia_scores(signals), loss_scores(signals)
    for values in rmia.values():
        assert np.all((values > 0) & (values < 1))
    assert _pooled_auc(signals, rmia) > 0.9
    assert _pooled_auc(signals, loss) < _pooled_auc(signals, rmia) - 0.1


def test_a_train_target_is_left_out_of_its_own_references_and_tuning():
    signals = _signals(np.random.default_rng(3))
    before = rmia_scores(signals)
    a_before = tune_offline_a(signals, "model_3")
    # Change only what model_3 contributes as a reference: its rows, not its target signals.
    signals.shadow_phi[3] += 50.0
    signals.shadow_population_phi[3] -= 50.0
    signals.shadow_in[3] = ~signals.shadow_in[3]
    after = rmia_scores(signals)
    assert tune_offline_a(signals, "model_3") == a_before
    assert np.array_equal(before[("train", "model_3")], after[("train", "model_3")])
    assert not np.array_equal(before[("train", "model_2")], after[("train", "model_2")])


def test_a_given_offline_a_is_used_and_a_bad_one_refused():
    signals = _signals(np.random.default_rng(4))
    zero, one = rmia_scores(signals, 0.0), rmia_scores(signals, 1.0)
    assert not np.array_equal(zero[("train", "model_0")], one[("train", "model_0")])
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(OptionError, match="offline a must be 'auto' or a number in"):
            check_offline_a(bad)
    signals.shadow_population_phi = None
    with pytest.raises(OptionError, match="population signals"):
        rmia_scores(signals)
