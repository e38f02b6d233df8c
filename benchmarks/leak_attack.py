"""An adaptive participant who recovers hidden dev labels from what a Development submission shows.

The scorer pools all challenge points of a scenario, and every per-scenario metric is a function
of the ROC staircase only, i.e. of the numbers of members and non-members in each group of tied
scores. An attacker who puts every still-unknown point it is not testing into one tied group
therefore knows that group's composition from the totals (the generator makes exactly ``m`` of a
model's ``2m`` challenge points members), and the metrics become an exact, computable function of
the labels of the few points under test. Each submission:

1. picks a few "tested" items per scenario (single points, and clusters left ambiguous by earlier
   submissions, with their remaining candidate labelings) so that the joint candidate labelings
   number at most ``max_candidates``;
2. tries a few random layouts (known negatives on top so that an FPR cap lands among the tested
   points, known points between them as spacers that give the AUC distinct weights, the untested
   group below, the remaining known points last) and keeps the one whose visible outcome has the
   largest entropy over the candidates;
3. after scoring, keeps the candidates whose simulated visible outcome equals the observed one.

A candidate set with one labeling left makes its points known. Nothing here reads the labels:
the decoder sees only what a ``View`` shows, and the benchmark checks every recovered label
against the truth afterwards. The simulation uses the scorer's conventions (``score >=
threshold``, "at most" FPR, ties counted one half), so the true labeling always stays a candidate;
the decoder raises if none does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

EXCLUDED, NEGATIVE, POSITIVE = 0, 1, 2
"""Attacker-side state of a point: not scored (defence c), non-member, member."""


@dataclass(frozen=True)
class View:
    """What a participant can read after a Development submission.

    ``metrics``: ``"all"`` (TPR at every FPR level, AUC, advantage; accuracy is the advantage
    again and the ε bound is ignored by this attacker) or ``"ranking"`` (per-scenario TPR at the
    ranking FPR only) or ``"overall"`` (only the ranking score, the mean of those over the
    scenarios: the attacker then works on one scenario at a time and gives the others a
    constant, whose TPR is 0). ``decimals``: digits shown (None: full precision, as scores.txt,
    scores.json and the scoring log are). ``detailed``: the detailed-results page as the scorer
    writes it today (all metrics at 4 decimals plus ROC plots whose SVG coordinates give exact TP
    counts on the plot's FPR grid). ``subset``: defence (c), the fraction of each model's members
    and of its non-members that the dev score uses (secret, fixed per model); None: all points.
    """

    name: str
    metrics: str = "all"
    decimals: int | None = None
    detailed: bool = True
    subset: float | None = None


@dataclass(frozen=True)
class Feature:
    """One visible number per scenario: TPR at an FPR cap, AUC or advantage, at some precision."""

    kind: str  # "tpr" | "auc" | "mia"
    cap: float = 0.0
    decimals: int | None = None
    scenarios: int = 1  # > 1: shown only as the mean over this many scenarios (the others 0)


def view_features(
    view: View,
    alphas: tuple[float, ...],
    ranking_alpha: float,
    grid: np.ndarray,
    scenarios: int = 1,
) -> list[Feature]:
    """The visible numbers of one scenario under ``view``; ``grid`` is the ROC plot's FPR grid."""
    if view.metrics == "overall":
        features = [Feature("tpr", ranking_alpha, view.decimals, scenarios)]
    else:
        shown = alphas if view.metrics == "all" else (ranking_alpha,)
        features = [Feature("tpr", a, view.decimals) for a in shown]
    if view.metrics == "all":
        features += [Feature("auc", 0.0, view.decimals), Feature("mia", 0.0, view.decimals)]
    if view.detailed:
        features += [Feature("tpr", a, 4) for a in alphas]
        features += [Feature("auc", 0.0, 4), Feature("mia", 0.0, 4)]
        features += [Feature("tpr", float(g), None) for g in grid]
    exact = {(f.kind, f.cap) for f in features if f.decimals is None}
    unique: list[Feature] = []
    for feature in features:
        # A rounded copy of a number also shown in full adds nothing.
        if feature in unique or (
            feature.decimals is not None and (feature.kind, feature.cap) in exact
        ):
            continue
        unique.append(feature)
    return unique


def project(values: np.ndarray, decimals: int | None) -> np.ndarray:
    """What a display with ``decimals`` digits shows, as an exactly comparable number.

    Python's ``round`` on each value, exactly as the scorer rounds what it writes
    (scoring_program/scorer_disclosure.py ``disclose``), so that a number the real scorer
    wrote equals the simulated one (numpy's ``round`` differs on values such as 0.005).
    """
    if decimals is None:
        return values
    flat = [
        round(value, decimals) for value in np.asarray(values, dtype=np.float64).ravel().tolist()
    ]
    return np.array(flat, dtype=np.float64).reshape(np.shape(values))


def visible_from_counts(
    p: np.ndarray, q: np.ndarray, num_pos: int, num_neg: int, features: list[Feature]
) -> np.ndarray:
    """Visible numbers for candidate block counts ``p``/``q`` (rows: candidates, columns: tied
    score groups from the highest score down), computed like scoring_program/scorer_metrics.py
    (``roc_counts``, ``tpr_at_fprs``, ``auc_from_roc``, ``advantage_from_roc``)."""
    rows = p.shape[0]
    tp = np.zeros((rows, p.shape[1] + 1), dtype=np.int64)
    fp = np.zeros_like(tp)
    np.cumsum(p, axis=1, out=tp[:, 1:])
    np.cumsum(q, axis=1, out=fp[:, 1:])
    fpr = fp / float(num_neg)
    tpr = tp / float(num_pos)
    out = np.empty((rows, len(features)), dtype=np.float64)
    index = np.arange(rows)
    auc = mia = None
    for j, feature in enumerate(features):
        if feature.kind == "tpr":
            last = np.count_nonzero(fpr <= feature.cap, axis=1) - 1
            value = tp[index, last] / float(num_pos)
            if feature.scenarios > 1:  # the scorer's mean: (value + 0 + ... + 0) / count
                value = value / float(feature.scenarios)
        elif feature.kind == "auc":
            if auc is None:
                area = np.sum(np.diff(fp, axis=1) * (tp[:, 1:] + tp[:, :-1]), axis=1)
                auc = area / (2.0 * num_pos * num_neg)
            value = auc
        else:
            if mia is None:
                mia = np.max(tpr - fpr, axis=1)
            value = mia
        out[:, j] = project(value, feature.decimals)
    return out


@dataclass
class Cluster:
    """Points whose joint labeling is one of ``rows`` (states), each with a prior weight."""

    points: np.ndarray
    rows: np.ndarray
    weights: np.ndarray


@dataclass
class Plan:
    """One scenario's part of a submission: the layout and what decoding its outcome needs."""

    scores: np.ndarray
    tested: np.ndarray
    rows: np.ndarray
    weights: np.ndarray
    observed_rows: np.ndarray  # visible numbers per candidate
    feasible: np.ndarray


@dataclass
class ScenarioAttack:
    """The attacker's knowledge of one scenario and its choice of the next layout.

    ``models`` gives each point's model; ``targets`` the number of members (and of non-members)
    each model has in the scored set; ``subset`` is True when some points are not scored.
    """

    models: np.ndarray
    targets: int
    subset: bool
    features: list[Feature]
    rng: np.random.Generator
    max_candidates: int = 4096
    layouts: int = 6
    state: np.ndarray = field(init=False)
    clusters: list[Cluster] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = np.full(self.models.size, -1, dtype=np.int64)
        self.num_models = int(self.models.max()) + 1
        self.states = (EXCLUDED, NEGATIVE, POSITIVE) if self.subset else (NEGATIVE, POSITIVE)
        # States still possible for each point outside a cluster (a cluster split into
        # independent columns leaves them here, e.g. "not a scored member").
        self.allowed = np.zeros((self.models.size, 3), dtype=bool)
        self.allowed[:, list(self.states)] = True
        self.num_pos = self.num_neg = self.targets * self.num_models
        excluded_share = 1.0 - self.targets / float(np.count_nonzero(self.models == 0)) * 2
        share = (1.0 - excluded_share) / 2.0
        self.prior = {EXCLUDED: excluded_share, NEGATIVE: share, POSITIVE: share}
        self.caps = sorted(
            {int(math.floor(f.cap * self.num_neg + 1e-9)) for f in self.features if f.kind == "tpr"}
        )

    # --- knowledge ---------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return bool(np.all(self.state >= 0))

    def recovered(self) -> np.ndarray:
        """Indices of points whose label is known (member or non-member)."""
        return np.flatnonzero(self.state >= NEGATIVE)

    def _clustered(self) -> np.ndarray:
        mask = np.zeros(self.models.size, dtype=bool)
        for cluster in self.clusters:
            mask[cluster.points] = True
        return mask

    def _select(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tested points and their joint candidate rows (Cartesian product) with weights."""
        parts: list[Cluster] = []
        size = 1
        for cluster in self.clusters:
            if size * len(cluster.rows) <= self.max_candidates:
                parts.append(cluster)
                size *= len(cluster.rows)
        singles = np.flatnonzero((self.state < 0) & ~self._clustered())
        self.rng.shuffle(singles)
        for point in singles:
            base = np.flatnonzero(self.allowed[point])
            if size * len(base) > self.max_candidates:
                break
            weights = np.array([self.prior[int(s)] for s in base])
            parts.append(Cluster(np.array([point]), base[:, None], weights / weights.sum()))
            size *= len(base)
        points = np.concatenate([c.points for c in parts])
        grids = np.meshgrid(*[np.arange(len(c.rows)) for c in parts], indexing="ij")
        picks = [g.ravel() for g in grids]
        rows = np.concatenate([c.rows[i] for c, i in zip(parts, picks, strict=True)], axis=1)
        w = np.ones(rows.shape[0])
        for c, i in zip(parts, picks, strict=True):
            w = w * c.weights[i]
        return points, rows, w / w.sum()

    # --- layouts ------------------------------------------------------------------------------

    def _random_layout(self, t: int, known_neg: int, known_pos: int) -> list[tuple]:
        """Elements from the highest score down: ("N"|"P", count), ("T", j), ("G",)."""
        rng = self.rng
        neg, pos = known_neg, known_pos
        elements: list[tuple] = []
        options = [0] + [max(0, k - c) for k in self.caps for c in range(4)]
        z = min(int(rng.choice(options)), neg)
        if z:
            elements.append(("N", z))
            neg -= z
        fraction = float(rng.choice([0.0, 0.05, 0.2, 0.5, 1.0]))
        spare_neg, spare_pos = int(neg * fraction), int(pos * fraction)
        shares = rng.dirichlet(np.ones(t)) if t else np.zeros(0)
        gap_neg = np.floor(shares * spare_neg).astype(int)
        gap_pos = np.floor(rng.permutation(shares) * spare_pos).astype(int)
        # Items sent below the untested group count for no FPR cap: that is what splits a
        # cluster whose points an earlier submission could only count together.
        below = rng.random(t) >= float(rng.choice([1.0, 0.75, 0.5, 0.25]))
        gap_neg[below] = 0
        gap_pos[below] = 0
        for j in rng.permutation(np.flatnonzero(~below)):
            elements.append(("T", int(j)))
            runs = [("N", int(gap_neg[j])), ("P", int(gap_pos[j]))]
            if rng.random() < 0.5:
                runs.reverse()
            elements += [r for r in runs if r[1]]
        neg -= int(gap_neg.sum())
        pos -= int(gap_pos.sum())
        elements.append(("G",))
        tail = [("N", neg), ("P", pos)]
        if rng.random() < 0.5:
            tail.reverse()
        bottom = [("T", int(j)) for j in rng.permutation(np.flatnonzero(below))]
        return elements + [r for r in tail if r[1]] + bottom

    def _blocks(
        self, elements: list[tuple], t: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        base_p = np.zeros(len(elements), dtype=np.int64)
        base_q = np.zeros(len(elements), dtype=np.int64)
        tested_block = np.zeros(t, dtype=np.int64)
        group = 0
        for b, element in enumerate(elements):
            if element[0] == "N":
                base_q[b] = element[1]
            elif element[0] == "P":
                base_p[b] = element[1]
            elif element[0] == "T":
                tested_block[element[1]] = b
            else:
                group = b
        return base_p, base_q, tested_block, group

    def _outcomes(
        self, elements: list[tuple], points: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Visible numbers per candidate row, and which rows fit the per-model totals."""
        t = points.size
        base_p, base_q, tested_block, group = self._blocks(elements, t)
        pos = (rows == POSITIVE).astype(np.int64)
        neg = (rows == NEGATIVE).astype(np.int64)
        p = np.repeat(base_p[None, :], rows.shape[0], axis=0)
        q = np.repeat(base_q[None, :], rows.shape[0], axis=0)
        p[:, tested_block] = pos
        q[:, tested_block] = neg
        known = self.state
        untested = (known < 0).copy()
        untested[points] = False
        feasible = np.ones(rows.shape[0], dtype=bool)
        group_p = np.zeros(rows.shape[0], dtype=np.int64)
        group_q = np.zeros(rows.shape[0], dtype=np.int64)
        for m in range(self.num_models):
            in_m = self.models == m
            left_p = self.targets - np.count_nonzero(in_m & (known == POSITIVE))
            left_q = self.targets - np.count_nonzero(in_m & (known == NEGATIVE))
            cols = self.models[points] == m
            gp = left_p - pos[:, cols].sum(axis=1)
            gq = left_q - neg[:, cols].sum(axis=1)
            room = np.count_nonzero(in_m & untested)
            feasible &= (gp >= 0) & (gq >= 0) & (gp + gq <= room)
            if not self.subset:
                feasible &= gp + gq == room
            group_p += gp
            group_q += gq
        p[:, group] = np.maximum(group_p, 0)
        q[:, group] = np.maximum(group_q, 0)
        visible = visible_from_counts(p, q, self.num_pos, self.num_neg, self.features)
        return visible, feasible

    def plan(self) -> Plan:
        """Choose the tested items and the most informative of a few random layouts."""
        points, rows, weights = self._select()
        known_neg = int(np.count_nonzero(self.state == NEGATIVE))
        known_pos = int(np.count_nonzero(self.state == POSITIVE))
        best = None
        for _ in range(self.layouts):
            elements = self._random_layout(points.size, known_neg, known_pos)
            visible, feasible = self._outcomes(elements, points, rows)
            gain = _entropy(visible[feasible], weights[feasible])
            if best is None or gain > best[0]:
                best = (gain, elements, visible, feasible)
        _, elements, visible, feasible = best
        scores = self._scores(elements, points)
        return Plan(scores, points, rows, weights, visible, feasible)

    def _scores(self, elements: list[tuple], points: np.ndarray) -> np.ndarray:
        """Submission values: one distinct value per element, decreasing down the layout."""
        scores = np.zeros(self.models.size, dtype=np.float64)
        pools = {
            "N": list(np.flatnonzero(self.state == NEGATIVE)),
            "P": list(np.flatnonzero(self.state == POSITIVE)),
        }
        untested = self.state < 0
        untested[points] = False
        group = np.flatnonzero(untested | (self.state == EXCLUDED))
        count = len(elements)
        for e, element in enumerate(elements):
            value = 1.0 - (e + 1.0) / (count + 1.0)
            if element[0] in pools:
                taken = pools[element[0]][: element[1]]
                del pools[element[0]][: element[1]]
                scores[taken] = value
            elif element[0] == "T":
                scores[points[element[1]]] = value
            else:
                scores[group] = value
        return scores

    # --- decoding -------------------------------------------------------------------------------

    def learn(self, plan: Plan, observed: np.ndarray) -> None:
        """Keep the candidates whose outcome is the observed one; fix what they agree on."""
        match = plan.feasible & np.all(plan.observed_rows == observed[None, :], axis=1)
        if not np.any(match):
            raise RuntimeError("no candidate labeling explains the observed scores")
        tested = set(plan.tested.tolist())
        self.clusters = [c for c in self.clusters if not tested & set(c.points.tolist())]
        rows, inverse = np.unique(plan.rows[match], axis=0, return_inverse=True)
        weights = np.bincount(inverse.ravel(), weights=plan.weights[match])
        constant = np.all(rows == rows[0], axis=0)
        self.state[plan.tested[constant]] = rows[0, constant]
        points = plan.tested[~constant]
        rows = rows[:, ~constant]
        while points.size:
            split = _independent_column(rows)
            if split is None:
                break
            self.allowed[points[split]] = False
            self.allowed[points[split], np.unique(rows[:, split])] = True
            keep = np.arange(points.size) != split
            rows, inverse = np.unique(rows[:, keep], axis=0, return_inverse=True)
            weights = np.bincount(inverse.ravel(), weights=weights)
            points = points[keep]
        if points.size:
            self.clusters.append(Cluster(points, rows, weights / weights.sum()))
        self._close_models()

    def _close_models(self) -> None:
        """A model whose remaining members (or non-members, or scored points) are all found
        fixes its other unknown points; only points outside clusters are fixed here."""
        free = (self.state < 0) & ~self._clustered()
        for m in range(self.num_models):
            in_m = self.models == m
            unknown = in_m & (self.state < 0)
            left_p = self.targets - np.count_nonzero(in_m & (self.state == POSITIVE))
            left_q = self.targets - np.count_nonzero(in_m & (self.state == NEGATIVE))
            if np.any(unknown & ~free):
                continue
            count = int(np.count_nonzero(unknown))
            if left_p == 0 and left_q == 0:
                self.state[unknown] = EXCLUDED
            elif left_p == count:
                self.state[unknown] = POSITIVE
            elif left_q == count:
                self.state[unknown] = NEGATIVE


def _independent_column(rows: np.ndarray) -> int | None:
    """A column whose values combine freely with the other columns' (the rows are then the
    product of the two), so that its point can leave the cluster; None if there is none."""
    if rows.shape[1] == 1:
        return 0
    for c in range(rows.shape[1]):
        values = np.unique(rows[:, c]).size
        others = np.unique(np.delete(rows, c, axis=1), axis=0).shape[0]
        if values * others == rows.shape[0]:
            return c
    return None


def _entropy(visible: np.ndarray, weights: np.ndarray) -> float:
    """Entropy (bits) of the visible outcome over the candidate rows."""
    if visible.shape[0] == 0:
        return 0.0
    _, inverse = np.unique(visible, axis=0, return_inverse=True)
    mass = np.bincount(inverse.ravel(), weights=weights)
    mass = mass[mass > 0] / mass.sum()
    return float(-np.sum(mass * np.log2(mass)))
