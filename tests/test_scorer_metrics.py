"""Specification of the scorer's metrics, checked against scikit-learn, scipy and brute force.

Rule under test: a point is predicted a member when score >= threshold; TPR@alpha is the
largest TPR over thresholds whose FPR is at most alpha; tied scores are never split.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import beta, binom
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import load_scorer
except ImportError:
    from test_scorer_support import load_scorer

S = load_scorer()
M = S.metrics


# --- brute force: every threshold, straight from the definitions ----------------------------


def brute_points(labels, scores):
    """(FP, TP) for the +inf threshold and every distinct score, by counting."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    points = [(0, 0)]
    for t in np.unique(s)[::-1]:
        predicted = s >= t
        points.append((int(np.sum(predicted & ~y)), int(np.sum(predicted & y))))
    return points, int(y.sum()), int((~y).sum())


def brute_tpr_at(labels, scores, alpha):
    points, num_pos, num_neg = brute_points(labels, scores)
    return max(tp / num_pos for fp, tp in points if fp / num_neg <= alpha)


def brute_auc(labels, scores):
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y][:, None], s[~y][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def brute_eps(labels, scores, delta, confidence=0.95):
    """max over all thresholds with scipy's beta quantile for the Clopper-Pearson bounds."""
    points, num_pos, num_neg = brute_points(labels, scores)
    q = 1 - (1 - confidence) / 2
    best = -math.inf
    for fp, tp in points:
        fn = num_pos - tp
        u_fp = 1.0 if fp == num_neg else beta.ppf(q, fp + 1, num_neg - fp)
        u_fn = 1.0 if fn == num_pos else beta.ppf(q, fn + 1, num_pos - fn)
        for a, b in ((u_fp, u_fn), (u_fn, u_fp)):
            if 1 - delta - a > 0:
                best = max(best, math.log((1 - delta - a) / b))
    return max(best, 0.0)


@st.composite
def attacks(draw, max_size=60):
    """Labels with both classes, and scores that are either continuous or heavily tied."""
    n = draw(st.integers(min_value=2, max_value=max_size))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[0], labels[1] = True, False
    if draw(st.booleans()):
        levels = draw(st.integers(min_value=1, max_value=4))
        scores = draw(st.lists(st.integers(0, levels), min_size=n, max_size=n))
        scores = [v / levels for v in scores]
    else:
        scores = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    return np.array(labels), np.array(scores, dtype=float)


FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# --- TPR at FPR -----------------------------------------------------------------------------


@FAST
@given(attacks())
def test_tpr_at_fpr_is_the_largest_tpr_with_fpr_at_most_alpha(attack):
    labels, scores = attack
    fpr, tpr, _ = sk_roc_curve(labels, scores, drop_intermediate=False)
    for alpha in S.ALPHAS + (0.0, 0.3, 0.5, 1.0):
        expected = brute_tpr_at(labels, scores, alpha)
        assert S.tpr_at_fpr(labels, scores, alpha) == expected
        assert expected == np.max(tpr[fpr <= alpha])


@FAST
@given(attacks())
def test_roc_curve_is_scikit_learns_without_dropped_points(attack):
    labels, scores = attack
    fpr, tpr, thresholds = S.roc_curve(labels, scores)
    sk_fpr, sk_tpr, sk_thresholds = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(fpr, sk_fpr)
    np.testing.assert_array_equal(tpr, sk_tpr)
    np.testing.assert_array_equal(thresholds[1:], sk_thresholds[1:])
    assert thresholds[0] == np.inf


def test_fpr_exactly_alpha_counts_as_at_most_alpha():
    """100 of 1000 non-members above the threshold is FPR = 0.1 exactly: it qualifies.

    MICO's own code used FPR < 0.1 and would have reported 0 here.
    """
    labels = np.array([0] * 1000 + [1] * 100)
    scores = np.array([0.9] * 100 + [0.1] * 900 + [0.9] * 50 + [0.05] * 50)
    assert S.tpr_at_fpr(labels, scores, 0.1) == 0.5
    assert S.tpr_at_fpr(labels, scores, 0.0999) == 0.0
    fpr, tpr, _ = sk_roc_curve(labels, scores)
    assert np.max(tpr[fpr < 0.1]) == 0.0  # the strict rule gives a different answer


@pytest.mark.parametrize("alpha", [0.001, 0.01, 0.05, 0.1, 0.15, 0.2])
def test_every_reported_alpha_is_inclusive_at_its_boundary(alpha):
    num_neg = 2000
    hot = round(alpha * num_neg)  # exactly alpha * N non-members on top
    labels = np.array([0] * num_neg + [1] * 10)
    scores = np.array([1.0] * hot + [0.0] * (num_neg - hot) + [1.0] * 4 + [0.0] * 6)
    assert S.tpr_at_fpr(labels, scores, alpha) == 0.4


def test_ties_are_never_split():
    """All members tie with as many non-members: no threshold can take the members alone."""
    labels = np.array([1] * 10 + [0] * 10 + [0] * 80)
    scores = np.array([0.8] * 10 + [0.8] * 10 + [0.2] * 80)
    assert S.tpr_at_fpr(labels, scores, 0.1) == 0.0
    assert S.tpr_at_fpr(labels, scores, 10 / 90) == 1.0


def test_perfect_constant_and_inverted_predictions():
    labels = np.array([1, 0] * 500)
    perfect = labels.astype(float)
    constant = np.full(labels.size, 0.5)
    inverted = 1.0 - perfect
    assert S.tpr_at_fpr(labels, perfect, 0.1) == 1.0
    assert S.tpr_at_fpr(labels, constant, 0.1) == 0.0
    assert S.tpr_at_fpr(labels, inverted, 0.1) == 0.0
    best = S.compute_metrics(labels, perfect)
    assert (best["AUC"], best["MIA"], best["accuracy"]) == (1.0, 1.0, 1.0)
    flat = S.compute_metrics(labels, constant)
    assert (flat["AUC"], flat["MIA"], flat["accuracy"], flat["eps_lb"]) == (0.5, 0.0, 0.5, 0.0)
    worst = S.compute_metrics(labels, inverted)
    assert (worst["AUC"], worst["MIA"], worst["accuracy"], worst["eps_lb"]) == (0.0, 0, 0.5, 0)


# --- AUC, advantage, balanced accuracy ------------------------------------------------------


@FAST
@given(attacks())
def test_auc_counts_ties_one_half(attack):
    labels, scores = attack
    auc = S.compute_metrics(labels, scores)["AUC"]
    assert auc == pytest.approx(brute_auc(labels, scores), abs=1e-12)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@FAST
@given(attacks())
def test_advantage_and_balanced_accuracy_over_all_thresholds(attack):
    labels, scores = attack
    points, num_pos, num_neg = brute_points(labels, scores)
    values = S.compute_metrics(labels, scores)
    advantage = max(tp / num_pos - fp / num_neg for fp, tp in points)
    accuracy = max(1 - (fp / num_neg + (1 - tp / num_pos)) / 2 for fp, tp in points)
    assert values["MIA"] == pytest.approx(advantage, abs=1e-12)
    assert values["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    assert values["MIA"] >= 0.0 and values["accuracy"] >= 0.5


def test_metrics_come_in_the_documented_order_and_delta_defaults():
    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.2, 0.7])
    values = S.compute_metrics(labels, scores, delta=None)
    assert tuple(values) == S.METRIC_NAMES
    assert S.METRIC_NAMES[:6] == tuple(f"TPR_FPR_{round(a * 1e4)}" for a in S.ALPHAS)
    assert values == S.compute_metrics(labels, scores, delta=1e-5)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 0, 1], [0.1, 0.2], "differ in length"),
        ([1, 2], [0.1, 0.2], "0 or 1"),
        ([1, 1], [0.1, 0.2], "both members"),
        ([1, 0], [0.1, float("nan")], "finite"),
    ],
)
def test_bad_metric_inputs_raise_clear_errors(labels, scores, message):
    with pytest.raises(ValueError, match=message):
        S.compute_metrics(labels, scores)


# --- Clopper-Pearson and the empirical epsilon ----------------------------------------------

CP_CASES = sorted(
    (k, n) for n in (1, 2, 7, 50, 200, 5000, 10**5, 10**7) for k in {0, 1, n // 3, n - 1} if k < n
)


@pytest.mark.parametrize(("k", "n"), CP_CASES)
def test_clopper_pearson_upper_is_scipys_beta_quantile(k, n):
    expected = beta.ppf(0.975, k + 1, n - k)
    assert S.clopper_pearson_upper(k, n) == pytest.approx(expected, rel=1e-9)
    assert S.clopper_pearson_upper(n, n) == 1.0


@pytest.mark.parametrize("confidence", [0.9, 0.99])
def test_clopper_pearson_upper_at_other_confidences(confidence):
    q = 1 - (1 - confidence) / 2
    for k, n in [(3, 40), (120, 1000)]:
        expected = beta.ppf(q, k + 1, n - k)
        assert S.clopper_pearson_upper(k, n, confidence) == pytest.approx(expected, rel=1e-9)


def test_clopper_pearson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        S.clopper_pearson_upper(5, 4)


def exact_binom_cdf(k, n, p):
    """P(Binomial(n, p) <= k) in exact integer arithmetic (p is a float, hence a/2^b)."""
    num, den = p.as_integer_ratio()
    total, comb = 0, 1  # comb = C(n, j), updated exactly (math.comb needs Python 3.8)
    for j in range(k + 1):
        total += comb * num**j * (den - num) ** (n - j)
        comb = comb * (n - j) // (j + 1)
    return float(Fraction(total, den**n))


@settings(max_examples=150, deadline=None, database=None)
@given(st.integers(1, 300), st.floats(0.0, 1.0), st.floats(1e-6, 1 - 1e-6))
def test_binomial_cdf_is_exact_to_many_digits_even_deep_in_the_tail(n, fraction, p):
    k = min(int(fraction * n), n - 1)
    assert M.binom_cdf(k, n, p) == pytest.approx(exact_binom_cdf(k, n, p), rel=1e-11)


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(300, 10**6), st.floats(0.0, 1.0), st.floats(1e-6, 1 - 1e-6))
def test_binomial_cdf_matches_scipy_for_large_n(n, fraction, p):
    k = min(int(fraction * n), n - 1)
    expected = binom.cdf(k, n, p)
    if expected > 1e-100:
        assert M.binom_cdf(k, n, p) == pytest.approx(expected, rel=1e-9)


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(attacks(max_size=40), st.sampled_from([1e-5, 1e-3, 0.0]))
def test_eps_lower_bound_is_the_maximum_over_all_thresholds(attack, delta):
    labels, scores = attack
    got = S.eps_lower_bound(labels, scores, delta)
    assert got == pytest.approx(brute_eps(labels, scores, delta), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eps_lower_bound_on_many_corners_finds_the_exhaustive_maximum(seed):
    """Beyond 64 corners only Wilson-ranked candidates get exact bounds; they hold the max."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 1500)
    scores = np.round(np.clip(0.3 * labels + rng.normal(0.4, 0.25, labels.size), 0, 1), 3)
    roc = M.roc_counts(labels, scores)
    assert M._pareto_corners(roc.fp, roc.num_pos - roc.tp).size > M.EPS_EXHAUSTIVE_CORNERS
    expected = brute_eps(labels, scores, 1e-5)
    assert S.eps_lower_bound(labels, scores, 1e-5) == pytest.approx(expected, rel=1e-9)


def test_eps_lower_bound_of_a_perfect_attack_has_a_closed_form():
    labels = np.array([1] * 1000 + [0] * 1000)
    upper = 1 - 0.025 ** (1 / 1000)  # Clopper-Pearson upper bound for 0 errors out of 1000
    expected = math.log((1 - 1e-5 - upper) / upper)
    assert S.eps_lower_bound(labels, labels.astype(float), 1e-5) == pytest.approx(expected)


def test_eps_method_is_documented_for_the_detailed_results():
    assert "Clopper-Pearson" in S.EPS_METHOD and "Jagielski" in S.EPS_METHOD
    assert "two-sided 95%" in S.EPS_METHOD


# --- score keys and plots --------------------------------------------------------------------


def test_score_keys_keep_micos_names_in_manifest_order():
    assert S.ALPHAS == (0.001, 0.01, 0.05, 0.1, 0.15, 0.2)
    per_scenario = [
        "TPR_FPR_10",
        "TPR_FPR_100",
        "TPR_FPR_500",
        "TPR_FPR_1000",
        "TPR_FPR_1500",
        "TPR_FPR_2000",
        "AUC",
        "MIA",
        "accuracy",
        "eps_lb",
    ]
    keys = S.score_keys(3)
    assert keys == [f"scenario{k}_{m}" for k in (1, 2, 3) for m in per_scenario] + [
        "average_TPR_FPR_1000"
    ]
    assert all(len(key) <= 36 and ":" not in key for key in keys)  # Codabench column limit
    assert S.score_keys(1)[-1] == S.RANKING_KEY


def test_plotted_roc_is_a_coarse_grid_of_tpr_at_fpr_values():
    """The plots never resolve single points: plotted FPRs are 20 non-members apart or more."""
    rng = np.random.default_rng(3)
    for n in (50, 400, 20000):
        labels = rng.integers(0, 2, n)
        labels[:2] = (0, 1)
        scores = rng.uniform(size=n)
        roc = M.roc_counts(labels, scores)
        lin_x, lin_y, log_x, log_y = M.roc_plot_points(roc)
        step = M.PLOT_MIN_NEGATIVES / roc.num_neg
        for grid in (lin_x, log_x):
            assert grid.size >= 1 and np.all(np.diff(grid) >= step * (1 - 1e-9))
        assert log_x[0] == pytest.approx(min(max(0.001, step), 1.0))
        assert lin_x.size <= 101 and log_x.size <= 61
        expected = [S.tpr_at_fpr(labels, scores, a) for a in log_x]
        np.testing.assert_array_equal(log_y, expected)
    assert lin_x.size == 101 and log_x[0] == pytest.approx(20 / roc.num_neg)  # ~10,000 negatives


def test_plots_of_a_demo_sized_phase_do_not_reveal_labels():
    # 200 non-members, as in the demo's dev phase: the participant ranks their points and reads
    # the plotted TPRs; between two plotted FPRs lie at least 20 non-members, so no plotted
    # step isolates one point, and the member counts between steps are all the page tells.
    rng = np.random.default_rng(11)
    labels = np.array([0] * 200 + [1] * 200)
    scores = rng.uniform(size=400) + 0.3 * labels
    roc = M.roc_counts(labels, scores)
    lin_x, _, log_x, _ = M.roc_plot_points(roc)
    for grid in (lin_x, log_x):
        negatives = np.round(np.asarray(grid) * 200)
        assert np.all(np.diff(negatives) >= 20)
    assert len(lin_x) <= 11 and len(log_x) <= 11


def _svg_curves(svg):
    """The two plotted curves of a roc_svg chart, as arrays of (x, y) SVG coordinates."""
    root = ET.fromstring(svg)  # inline SVG must be well-formed XML on its own
    curves = [node.get("points") for node in root.iter("polyline")]
    return root, [np.array([p.split(",") for p in c.split()], dtype=float) for c in curves]


def test_roc_svg_draws_linear_and_log_log_charts_on_the_fixed_grids():
    """Two square charts per scenario; the curves have the grid sizes whatever the points."""
    rng = np.random.default_rng(5)
    report = S.report
    for n in (400, 20000):
        labels = rng.integers(0, 2, n)
        labels[:2] = (0, 1)
        scores = rng.normal(size=n) + 1.5 * labels
        roc = M.roc_counts(labels, scores)
        marked = M.metrics_from_roc(roc)["TPR_FPR_1000"]
        svg = report.roc_svg(roc, "scenario 2: CIFAR <eps> & co ('x')", marked)
        root, (lin, log) = _svg_curves(svg)
        assert root.tag == "svg" and "http" not in svg and "href" not in svg
        assert "<script" not in svg and "<image" not in svg and "<foreignObject" not in svg
        assert not [a for node in root.iter() for a in node.attrib if a.startswith("on")]
        texts = ["".join(node.itertext()) for node in root.iter("text")]
        assert texts[0] == "scenario 2: CIFAR <eps> & co ('x')"  # escaped in the source
        assert "&lt;eps&gt; &amp; co" in svg and "<eps>" not in svg
        assert {"linear", "log-log", "false positive rate", "true positive rate"} <= set(texts)
        assert {"0", "0.2", "0.4", "0.6", "0.8", "1"} <= set(texts)  # linear ticks
        assert {"0.1", "1"} <= set(texts)  # log-log decade ticks (above the grid's floor)
        assert f"TPR@0.1 = {marked:.4f}" in texts
        # Grid samples only: the coarse grids of roc_plot_points (+1 edge crossing), never
        # one point per challenge point, and never a vertical step (x always grows).
        lin_x, _, log_x, _ = M.roc_plot_points(roc)
        assert len(lin) == len(lin_x) and len(log) <= len(log_x) + 1
        assert np.all(np.diff(lin[:, 0]) > 0) and np.all(np.diff(log[:, 0]) > 0)
        # Both charts are square and share the size; the curves stay inside them.
        rects = [r for r in root.iter("rect") if r.get("fill") == "none"]
        assert len(rects) == 2
        for rect, curve in ((rects[0], lin), (rects[1], log)):
            x, y = float(rect.get("x")), float(rect.get("y"))
            w, h = float(rect.get("width")), float(rect.get("height"))
            assert w == h == float(rects[0].get("width"))
            assert np.all((curve[:, 0] >= x - 0.01) & (curve[:, 0] <= x + w + 0.01))
            assert np.all((curve[:, 1] >= y - 0.01) & (curve[:, 1] <= y + h + 0.01))
        markers = list(root.iter("circle"))
        assert len(markers) == 4  # on both curves, and in both keys


def test_roc_svg_log_chart_starts_at_the_bottom_edge_when_tpr_is_below_0_001():
    """TPR under the log floor (or 0) is not drawn; the curve enters through the bottom edge."""
    labels = np.array([0] * 5000 + [1] * 5000)
    scores = np.concatenate([np.linspace(1, 2, 5000), np.linspace(0, 1.5, 5000)])
    roc = M.roc_counts(labels, scores)
    marked = M.metrics_from_roc(roc)["TPR_FPR_1000"]
    assert marked == 0.0
    root, (lin, log) = _svg_curves(S.report.roc_svg(roc, "t", marked))
    rects = [r for r in root.iter("rect") if r.get("fill") == "none"]
    bottom = float(rects[1].get("y")) + float(rects[1].get("height"))
    assert log[0, 1] == pytest.approx(bottom, abs=0.01) and np.all(log[1:, 1] < bottom)
    assert len(list(root.iter("circle"))) == 3  # TPR@0.1 = 0 has no place on the log chart


def test_roc_svg_with_too_few_non_members_for_a_log_grid_has_finite_coordinates():
    """At most PLOT_MIN_NEGATIVES non-members: the log grid is FPR 1 alone, the axis one decade."""
    labels = np.array([0] * M.PLOT_MIN_NEGATIVES + [1] * 30)
    scores = np.linspace(0.0, 1.0, len(labels))
    roc = M.roc_counts(labels, scores)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on 0/0 where it makes a NaN
        svg = S.report.roc_svg(roc, "t", M.metrics_from_roc(roc)["TPR_FPR_1000"])
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
    root, (lin, log) = _svg_curves(svg)
    assert np.isfinite(lin).all() and np.isfinite(log).all()
