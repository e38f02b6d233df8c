"""The attacks' building blocks on synthetic signals: exact φ, a non-saturating [0, 1] map,
held-out LiRA fits and their fallbacks when shadows are scarce."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from micokit.attacks import (
    ScenarioSignals,
    fit_gaussians,
    lira_scores,
    logit_confidence,
    loss_scores,
    shrinkage_weight,
    squash,
)
from micokit.loading import Scenario


def test_logit_confidence_is_exact_and_ranks_like_minus_loss():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 40.0, 0.0], [60.0, -60.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    phi = logit_confidence(logits, labels)
    p = torch.softmax(logits.double(), dim=1)[0, 0].item()
    assert phi[0] == pytest.approx(np.log(p / (1 - p)), rel=1e-12)
    assert phi[1] == pytest.approx(40.0 - np.log(2.0), rel=1e-12)  # p_y rounds to 1 in float32
    loss = torch.nn.functional.cross_entropy(logits.double(), labels, reduction="none").numpy()
    assert np.allclose(loss, np.log1p(np.exp(-phi)))
    assert list(np.argsort(-phi)) == list(np.argsort(loss))


def test_squash_keeps_order_inside_the_unit_interval():
    t = np.array([-1e12, -50.0, -1.0, 0.0, 1e-9, 1.0, 37.0, 50.0, 1e6])
    s = squash(t)
    assert np.all(np.diff(s) > 0) and s.min() > 0 and s.max() < 1
    assert squash(np.array([0.0]))[0] == 0.5


def _signals(rng, shadows=8, points=60, shift=2.0):
    """Shadow φ with per-point difficulty; members of each shadow get a boost."""
    scenario = Scenario("s", 1, "s", None, 1e-5, "d", 10, points // 2, {}, None, {}, {})
    union = np.arange(points)
    difficulty = rng.normal(0, 3, points)
    trained = rng.random((shadows, points)) < 0.3
    phi = difficulty + rng.normal(0, 0.5, (shadows, points)) + shift * trained
    names = [f"model_{i}" for i in range(shadows)]
    signals = ScenarioSignals(scenario, {}, {}, {}, union, names, phi, trained)
    for i, name in enumerate(names):
        cols = np.arange(points)
        signals.targets[("train", name)] = phi[i, cols]
        signals.columns[("train", name)] = cols
        signals.membership[name] = trained[i].astype(int)
    return signals


def test_lira_leaves_each_train_model_out_of_its_own_fit():
    signals = _signals(np.random.default_rng(0))
    before = lira_scores(signals)[("train", "model_3")]
    signals.shadow_phi[3] += 100.0  # only model_3's own shadow row changes
    after = lira_scores(signals)[("train", "model_3")]
    assert np.array_equal(before, after)
    assert not np.array_equal(lira_scores(signals)[("train", "model_2")], before)


def test_lira_calibrates_point_difficulty_better_than_loss():
    from sklearn.metrics import roc_auc_score

    signals = _signals(np.random.default_rng(1), shadows=16, points=200)
    labels = np.concatenate([signals.membership[n] for n in signals.shadow_names])
    for online in (False, True):
        lira = lira_scores(signals, online=online)
        scores = np.concatenate([lira[("train", n)] for n in signals.shadow_names])
        assert np.all((scores > 0) & (scores < 1))
        assert roc_auc_score(labels, scores) > 0.9
    loss = loss_scores(signals)
    loss_auc = roc_auc_score(
        labels, np.concatenate([loss[("train", n)] for n in signals.shadow_names])
    )
    assert loss_auc < 0.8


def test_gaussian_fallbacks_when_a_point_has_no_out_or_no_in_shadow():
    phi = np.array([[1.0, 5.0, 0.0], [2.0, 8.0, 0.5], [3.0, 7.0, 1.0]])
    trained = np.array([[True, False, False], [True, True, False], [True, False, False]])
    fit = fit_gaussians(phi, trained, variance="global", shrink=False)
    # point 0 has no out-shadow: its out-mean is its in-mean minus the average in/out gap
    gap = 8.0 - 6.0  # point 1, the only one with both: in-mean 8, out-mean 6
    assert fit.mean_out[0] == pytest.approx(2.0 - gap)
    # point 2 has no in-shadow: in-mean borrows the gap too
    assert fit.mean_in[2] == pytest.approx(0.5 + gap)
    assert np.all(fit.std_out > 0) and np.all(np.isfinite(fit.std_in))
    with pytest.raises(ValueError, match="variance must be"):
        fit_gaussians(phi, trained, variance="median")


def test_shrinkage_pools_alike_points_and_trusts_different_ones():
    """κ = within / between variance: alike points are pooled (LiRA → the loss attack's
    ranking), points of very different difficulty keep their own shadows' means."""
    rng = np.random.default_rng(2)
    count = np.full(500, 6)
    alike = rng.normal(0, 1, (6, 500))
    assert shrinkage_weight(count, alike.mean(axis=0), 1.0) > 50
    varied = alike + rng.normal(0, 5, 500)
    assert shrinkage_weight(count, varied.mean(axis=0), 1.0) < 0.1
    signals = _signals(rng, shadows=8, points=80)
    signals.shadow_phi = rng.normal(0, 1, signals.shadow_phi.shape)  # no difficulty at all
    for i, name in enumerate(signals.shadow_names):
        signals.targets[("train", name)] = signals.shadow_phi[i]
    lira, loss, raw = lira_scores(signals), loss_scores(signals), lira_scores(signals, shrink=False)
    for name in signals.shadow_names:
        key = ("train", name)
        assert np.corrcoef(lira[key], loss[key])[0, 1] > np.corrcoef(raw[key], loss[key])[0, 1]


def test_scores_do_not_depend_on_the_phases_attacked(tiny_export):
    """The shadows see every challenge point of the scenario whatever ``phases`` asks for:
    attacking dev alone, or dev and final, or no phase at all gives the same scores."""
    from micokit.attacks import AttackResult, add_scenario, compute_signals
    from micokit.loading import open_task

    task = open_task(tiny_export[0], "image")
    scenario = task.scenario("image_hi")
    runs = {}
    for phases in [(), ("dev",), ("final", "dev")]:
        signals = compute_signals(task, scenario, phases, device="cpu", population=200)
        assert not set(signals.population) & set(signals.union)
        assert set(signals.union) == {
            i
            for p in scenario.models
            for r in task.models(scenario, p)
            for i in r.challenge_indices
        }
        for attack, online in (("loss", False), ("lira", False), ("lira", True), ("rmia", False)):
            result = AttackResult(attack, task.id, {}, {}, online=online)
            add_scenario(result, signals)
            runs[phases, attack, online] = result.predictions[scenario.id]
    for (phases, attack, online), predictions in runs.items():
        every = runs[("final", "dev"), attack, online]
        assert list(predictions) == ["train", *phases]
        for phase, scores in predictions.items():
            for name, values in scores.items():
                assert np.array_equal(values, every[phase][name]), (phases, attack, phase, name)
