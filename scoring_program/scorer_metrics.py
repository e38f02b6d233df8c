"""Membership-inference metrics, shared by the scoring program and by participants' attacks.

Everything here needs numpy only and runs on Python 3.7, because the same file is zipped into
the CodaLab/Codabench scoring program. An attack that imports these functions computes its
scores with exactly the code that ranks it.

Conventions, used by every function below:

* ``labels``: 1 (or True) for a member, 0 (or False) for a non-member.
* ``scores``: higher means "more likely a member". A point is *predicted a member* at
  threshold ``t`` when ``score >= t``. Tied scores therefore always fall on the same side of a
  threshold: no metric can split a tie.
* The ROC curve is the staircase over every distinct score used as a threshold, plus the
  threshold ``+inf`` (nobody predicted a member: FPR = TPR = 0). The last threshold, the
  smallest score, predicts everybody a member (FPR = TPR = 1).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np

ALPHAS = (0.001, 0.01, 0.05, 0.1, 0.15, 0.2)
"""FPR levels at which TPR is reported (MICO's columns)."""

RANKING_ALPHA = 0.1
"""The leaderboard ranks by the mean over scenarios of TPR at this FPR."""

DEFAULT_DELTA = 1e-5
"""The delta of the empirical epsilon bound when a scenario does not state one."""

EPS_CONFIDENCE = 0.95
"""Confidence of the two-sided Clopper-Pearson intervals behind ``eps_lb``."""

EPS_EXHAUSTIVE_CORNERS = 64
"""Up to this many ROC corners, the exact bound is evaluated at every one of them."""

EPS_CANDIDATES_PER_TERM = 16
"""Beyond that, the exact bound is evaluated at this many corners per epsilon term."""

EPS_METHOD = (
    "Empirical lower bound on epsilon (Jagielski et al., 2020): at every threshold, FPR and "
    f"FNR are replaced by the upper ends of their two-sided {EPS_CONFIDENCE:.0%} "
    f"Clopper-Pearson intervals (each a {1 - (1 - EPS_CONFIDENCE) / 2:.1%} one-sided bound), "
    "and eps_lb = max over thresholds of max(log((1 - delta - FPR_hi) / FNR_hi), "
    "log((1 - delta - FNR_hi) / FPR_hi)), clipped at 0 (0 where no threshold gives a defined "
    "value). Only thresholds on the Pareto corners of the ROC staircase can attain the "
    f"maximum; when there are more than {EPS_EXHAUSTIVE_CORNERS} corners, the exact bound is "
    f"computed at the {EPS_CANDIDATES_PER_TERM} best corners for each of the two terms as "
    "ranked by the Wilson score approximation. The threshold is chosen after seeing the data, "
    "so the bound is informational, not a certified audit."
)


def alpha_key(alpha: float) -> int:
    """The integer in MICO's key names: 0.1 -> 1000 (``scenario1_TPR_FPR_1000``)."""
    return int(round(1e4 * alpha))


METRIC_NAMES = tuple(f"TPR_FPR_{alpha_key(a)}" for a in ALPHAS) + (
    "AUC",
    "MIA",
    "accuracy",
    "eps_lb",
)
"""Per-scenario metric names, in the order in which they are reported."""


class Roc:
    """Counts along the ROC staircase; integer counts keep every metric exact.

    ``fp[i]`` and ``tp[i]`` are the numbers of non-members and members with
    ``score >= thresholds[i]``; index 0 is the threshold ``+inf``.
    """

    __slots__ = ("fp", "num_neg", "num_pos", "thresholds", "tp")

    def __init__(
        self,
        fp: np.ndarray,
        tp: np.ndarray,
        thresholds: np.ndarray,
        num_pos: int,
        num_neg: int,
    ) -> None:
        self.fp = fp
        self.tp = tp
        self.thresholds = thresholds
        self.num_pos = num_pos
        self.num_neg = num_neg

    @property
    def fpr(self) -> np.ndarray:
        return self.fp / float(self.num_neg)

    @property
    def tpr(self) -> np.ndarray:
        return self.tp / float(self.num_pos)


def _as_inputs(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Validate once, so that every metric fails with the same clear message."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError("labels and scores must be one-dimensional")
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length ({y.size} and {s.size})")
    if y.dtype != np.bool_:
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("labels must be 0 or 1")
        y = y == 1
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite numbers")
    num_pos = int(np.count_nonzero(y))
    if num_pos == 0 or num_pos == y.size:
        raise ValueError("labels must contain both members (1) and non-members (0)")
    return y, s


def roc_counts(labels: Sequence, scores: Sequence) -> Roc:
    """Build the ROC staircase in O(n log n): sort once, cumulate, keep the last of each tie.

    Keeping only the last index of each run of equal scores is what puts ties on one side.
    """
    y, s = _as_inputs(labels, scores)
    order = np.argsort(s)[::-1]
    s_desc = s[order]
    tp_cum = np.cumsum(y[order], dtype=np.int64)
    del order
    last = np.flatnonzero(s_desc[1:] != s_desc[:-1])
    ends = np.empty(last.size + 1, dtype=np.int64)
    ends[:-1] = last
    ends[-1] = s_desc.size - 1
    del last
    tp = np.zeros(ends.size + 1, dtype=np.int64)
    tp[1:] = tp_cum[ends]
    del tp_cum
    fp = np.zeros(ends.size + 1, dtype=np.int64)
    fp[1:] = ends + 1 - tp[1:]
    thresholds = np.empty(ends.size + 1, dtype=np.float64)
    thresholds[0] = np.inf
    thresholds[1:] = s_desc[ends]
    return Roc(fp, tp, thresholds, int(tp[-1]), int(fp[-1]))


def roc_curve(labels: Sequence, scores: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) like scikit-learn's ``roc_curve(drop_intermediate=False)``."""
    roc = roc_counts(labels, scores)
    return roc.fpr, roc.tpr, roc.thresholds


def tpr_at_fprs(roc: Roc, alphas: Iterable[float]) -> np.ndarray:
    """Largest TPR over thresholds whose FPR is at most each alpha (MICO's published rule).

    TPR never decreases along the staircase, so the answer is the TPR of the last point with
    ``FP / N <= alpha``. The float division is correctly rounded and monotone, so an FPR that
    equals alpha exactly (e.g. 100 / 1000 against 0.1) counts as "at most".
    """
    points = np.asarray(list(alphas), dtype=np.float64)
    idx = np.searchsorted(roc.fpr, points, side="right")
    return roc.tp[idx - 1] / float(roc.num_pos)


def tpr_at_fpr(labels: Sequence, scores: Sequence, alpha: float) -> float:
    """TPR at FPR at most ``alpha``; the leaderboard uses ``alpha = 0.1``."""
    return float(tpr_at_fprs(roc_counts(labels, scores), [alpha])[0])


def auc_from_roc(roc: Roc) -> float:
    """Area under the staircase with diagonal segments across ties (a tie counts one half).

    Integer trapezoids make it exact: sum(dFP * (TP_i + TP_{i-1})) / (2 P N).
    """
    dfp = np.diff(roc.fp)
    heights = roc.tp[1:] + roc.tp[:-1]
    area = int(np.dot(dfp, heights))
    return area / (2.0 * roc.num_pos * roc.num_neg)


def advantage_from_roc(roc: Roc) -> float:
    """Membership advantage max(TPR - FPR); the +inf threshold makes it at least 0."""
    return float(np.max(roc.tpr - roc.fpr))


def accuracy_from_roc(roc: Roc) -> float:
    """Best balanced accuracy max(1 - (FPR + FNR) / 2); at least 0.5 (predict all one way)."""
    return float(np.max(1.0 - (roc.fpr + (1.0 - roc.tpr)) / 2.0))


# --- Clopper-Pearson bounds without scipy ------------------------------------------------


_NORMAL_QUANTILES: dict[float, float] = {}


def _normal_upper_quantile(tail: float) -> float:
    """z with P(Z > z) = tail, by bisection on erfc; only seeds the exact solver below."""
    if tail not in _NORMAL_QUANTILES:
        lo, hi = 0.0, 40.0
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if 0.5 * math.erfc(mid / math.sqrt(2.0)) > tail:
                lo = mid
            else:
                hi = mid
        _NORMAL_QUANTILES[tail] = 0.5 * (lo + hi)
    return _NORMAL_QUANTILES[tail]


def wilson_upper(k: np.ndarray, n: float, tail: float) -> np.ndarray:
    """Wilson score upper bound (vectorised); a cheap stand-in used to rank thresholds."""
    z = _normal_upper_quantile(tail)
    k = np.asarray(k, dtype=np.float64)
    p = k / n
    z2n = z * z / n
    center = (p + z2n / 2.0) / (1.0 + z2n)
    spread = z / (1.0 + z2n) * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / n + z2n / (4.0 * n))
    return np.minimum(center + spread, 1.0)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), with small relative error even far in the lower tail.

    The probability mass function is built from its term ratios in log space, starting at
    the mode, over the window from min(k, mode) - h to max(k, mode) + h with h = 40 sd + 50,
    and normalised by its own sum. Terms below the window are negligible next to those
    summed (their ratios shrink geometrically), terms above it next to the total. This
    needs neither log-gamma differences (which lose digits for large n) nor a slowly
    converging continued fraction.
    """
    if p <= 0.0 or k >= n:
        return 1.0
    if p >= 1.0 or k < 0:
        return 0.0
    mode = min(n, int(math.floor((n + 1) * p)))
    half = int(40.0 * math.sqrt(n * p * (1.0 - p))) + 50
    lo = max(0, min(k, mode) - half)
    hi = min(n, max(k, mode) + half)
    log_odds = math.log(p) - math.log1p(-p)
    up = np.arange(mode, hi, dtype=np.float64)
    w_up = np.exp(np.cumsum(np.log(n - up) - np.log(up + 1.0) + log_odds))
    down = np.arange(mode - 1, lo - 1, -1, dtype=np.float64)
    w_down = np.exp(np.cumsum(np.log(down + 1.0) - np.log(n - down) - log_odds))
    total = 1.0 + float(np.sum(w_up)) + float(np.sum(w_down))
    if k >= mode:
        below = 1.0 + float(np.sum(w_down)) + float(np.sum(w_up[: k - mode]))
    else:
        below = float(np.sum(w_down[mode - 1 - k :]))
    return below / total


def _binom_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) via log-gamma; only the Newton slope below, so 1e-8 accuracy is ample."""
    log_pmf = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    return math.exp(log_pmf)


def clopper_pearson_upper(k: int, n: int, confidence: float = EPS_CONFIDENCE) -> float:
    """Upper end of the two-sided Clopper-Pearson interval for k successes in n trials.

    Equals ``scipy.stats.beta.ppf(1 - (1 - confidence) / 2, k + 1, n - k)``: the p with
    P(Binomial(n, p) <= k) = (1 - confidence) / 2, found by Newton steps kept inside a
    shrinking bracket (bisection whenever a step would leave it).
    """
    k = int(k)
    n = int(n)
    if n <= 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    tail = (1.0 - confidence) / 2.0
    if k == n:
        return 1.0
    if k == 0:
        return -math.expm1(math.log(tail) / n)
    lo, hi = k / float(n), 1.0
    p = float(wilson_upper(k, n, tail))
    if not lo < p < hi:
        p = 0.5 * (lo + hi)
    for _ in range(200):
        excess = binom_cdf(k, n, p) - tail
        if excess > 0.0:
            lo = p
        else:
            hi = p
        slope = n * _binom_pmf(k, n - 1, p)
        step = excess / slope if slope > 0.0 else hi - lo
        if abs(step) <= 1e-14 * p or hi - lo <= 1e-15 * hi:
            return min(max(p + step, lo), hi)
        p = p + step if lo < p + step < hi else 0.5 * (lo + hi)
    return p


# --- empirical epsilon ---------------------------------------------------------------------


def _pareto_corners(fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Indices of thresholds not dominated by a neighbour with no more FP and no more FN.

    Both epsilon terms fall when FP or FN grows, so a dominated threshold never attains the
    maximum; along the staircase only the last point of each FP value that is also the first
    point of its FN value survives.
    """
    keep = np.ones(fp.size, dtype=bool)
    keep[:-1] &= fp[1:] > fp[:-1]
    keep[1:] &= fn[:-1] > fn[1:]
    return np.flatnonzero(keep)


def _eps_terms(u_fp: np.ndarray, u_fn: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """The two epsilon terms per threshold, -inf where a term is undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.log(1.0 - delta - u_fp) - np.log(u_fn)
        t2 = np.log(1.0 - delta - u_fn) - np.log(u_fp)
    t1 = np.where(np.isnan(t1), -np.inf, t1)
    t2 = np.where(np.isnan(t2), -np.inf, t2)
    return t1, t2


def _top(values: np.ndarray, count: int) -> np.ndarray:
    if values.size <= count:
        return np.arange(values.size)
    return np.argpartition(-values, count - 1)[:count]


def _eps_candidates(
    fp: np.ndarray, fn: np.ndarray, roc: Roc, delta: float, tail: float
) -> np.ndarray:
    """Corners worth an exact Clopper-Pearson evaluation (see EPS_METHOD)."""
    if fp.size <= EPS_EXHAUSTIVE_CORNERS:
        return np.arange(fp.size)
    t1, t2 = _eps_terms(
        wilson_upper(fp, roc.num_neg, tail), wilson_upper(fn, roc.num_pos, tail), delta
    )
    picked = np.concatenate((_top(t1, EPS_CANDIDATES_PER_TERM), _top(t2, EPS_CANDIDATES_PER_TERM)))
    return np.unique(picked)


def eps_lower_bound_from_roc(
    roc: Roc, delta: float = DEFAULT_DELTA, confidence: float = EPS_CONFIDENCE
) -> float:
    """Empirical epsilon lower bound; see EPS_METHOD for the definition and its evaluation."""
    tail = (1.0 - confidence) / 2.0
    corners = _pareto_corners(roc.fp, roc.num_pos - roc.tp)
    fp = roc.fp[corners]
    fn = roc.num_pos - roc.tp[corners]
    chosen = _eps_candidates(fp, fn, roc, delta, tail)
    cache: dict[tuple[int, int], float] = {}

    def upper(k: int, n: int) -> float:
        if (k, n) not in cache:
            cache[(k, n)] = clopper_pearson_upper(k, n, confidence)
        return cache[(k, n)]

    u_fp = np.array([upper(int(k), roc.num_neg) for k in fp[chosen]], dtype=np.float64)
    u_fn = np.array([upper(int(k), roc.num_pos) for k in fn[chosen]], dtype=np.float64)
    t1, t2 = _eps_terms(u_fp, u_fn, delta)
    value = float(max(np.max(t1), np.max(t2)))
    if not math.isfinite(value) or value < 0.0:
        return 0.0
    return value


def eps_lower_bound(
    labels: Sequence,
    scores: Sequence,
    delta: float = DEFAULT_DELTA,
    confidence: float = EPS_CONFIDENCE,
) -> float:
    """Empirical epsilon lower bound of a membership attack (``scenario<k>_eps_lb``)."""
    return eps_lower_bound_from_roc(roc_counts(labels, scores), delta, confidence)


def metrics_from_roc(roc: Roc, delta: float = DEFAULT_DELTA) -> dict[str, float]:
    """Every per-scenario metric, keyed by METRIC_NAMES, in that order."""
    values: dict[str, float] = OrderedDict()
    tprs = tpr_at_fprs(roc, ALPHAS)
    for i, alpha in enumerate(ALPHAS):
        values[f"TPR_FPR_{alpha_key(alpha)}"] = float(tprs[i])
    values["AUC"] = auc_from_roc(roc)
    values["MIA"] = advantage_from_roc(roc)
    values["accuracy"] = accuracy_from_roc(roc)
    values["eps_lb"] = eps_lower_bound_from_roc(roc, delta)
    return values


def compute_metrics(
    labels: Sequence, scores: Sequence, delta: float | None = DEFAULT_DELTA
) -> dict[str, float]:
    """All scenario metrics for one attack, exactly as the scorer computes them.

    ``delta=None`` means the default 1e-5. Returns an ordered dict keyed by METRIC_NAMES
    (``TPR_FPR_10`` ... ``TPR_FPR_2000``, ``AUC``, ``MIA``, ``accuracy``, ``eps_lb``).
    """
    if delta is None:
        delta = DEFAULT_DELTA
    return metrics_from_roc(roc_counts(labels, scores), delta)


# Consecutive plotted FPRs are at least this many non-members apart. A finer grid lets a
# participant, who knows the ranking of their own scores, read the label of individual points
# off the curve (an audit decoded 648 of 1,200 dev labels from one submission with a
# 160-point grid over 200 non-members); blocks of 20 reveal no more than a count per block.
PLOT_MIN_NEGATIVES = 20


def _thinned(grid: np.ndarray, step: float, start: float) -> np.ndarray:
    kept: list[float] = []
    for x in grid:
        if x >= start * (1 - 1e-9) and (not kept or x - kept[-1] >= step * (1 - 1e-9)):
            kept.append(float(x))
    return np.asarray(kept, dtype=np.float64)


def roc_plot_points(
    roc: Roc, linear_points: int = 101, log_points: int = 61, min_fpr: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ROC sampled as TPR@FPR on coarse fixed FPR grids, for plots that show aggregates only.

    Plotting the exact staircase would reveal, step by step, the label of every point to a
    participant who knows the ranking of their own scores. The grids are therefore thinned so
    that consecutive FPRs are at least ``PLOT_MIN_NEGATIVES`` non-members apart, and the log
    grid starts at the larger of ``min_fpr`` (default: the smallest reported alpha) and that
    step: with few non-members the plots get coarse rather than revealing.
    """
    if min_fpr is None:
        min_fpr = min(ALPHAS)
    step = PLOT_MIN_NEGATIVES / float(max(roc.num_neg, 1))
    lin = _thinned(np.linspace(0.0, 1.0, linear_points), step, 0.0)
    floor = min(max(min_fpr, step), 1.0)
    log = _thinned(np.logspace(math.log10(floor), 0.0, log_points), step, floor)
    return lin, tpr_at_fprs(roc, lin), log, tpr_at_fprs(roc, log)


__all__ = [
    "ALPHAS",
    "DEFAULT_DELTA",
    "EPS_CONFIDENCE",
    "EPS_METHOD",
    "METRIC_NAMES",
    "PLOT_MIN_NEGATIVES",
    "RANKING_ALPHA",
    "Roc",
    "accuracy_from_roc",
    "advantage_from_roc",
    "alpha_key",
    "auc_from_roc",
    "binom_cdf",
    "clopper_pearson_upper",
    "compute_metrics",
    "eps_lower_bound",
    "eps_lower_bound_from_roc",
    "metrics_from_roc",
    "roc_counts",
    "roc_curve",
    "roc_plot_points",
    "tpr_at_fpr",
    "tpr_at_fprs",
    "wilson_upper",
]
