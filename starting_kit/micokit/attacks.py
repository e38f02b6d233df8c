"""Baseline membership-inference attacks: loss threshold, and LiRA and RMIA with the train
models as shadows (reference models).

Both attacks start from one number per (model, point), the logit-scaled confidence

    φ = log p_y − log(1 − p_y) = z_y − logsumexp_{j≠y} z_j        (z: logits, y: true label)

computed in float64 from the logits, so that it stays exact where p_y rounds to 1. The
cross-entropy loss is log(1 + e^−φ), a strictly decreasing function of φ.

* ``loss`` (MICO's starting-kit baseline): score = squash(φ), i.e. ranked by −loss.
* ``lira`` offline (Carlini et al., 2022): for each challenge point x, fit a Gaussian to φ on
  the shadow models that did *not* train on x (train models whose ``training_indices`` lack x),
  and score the one-sided test Φ((φ − μ_out(x)) / σ_out(x)). With few shadows per point the
  variance is pooled over all points (the paper's "global variance"), and μ_out(x) is shrunk
  toward the global mean by an empirical-Bayes weight (``shrink=True``): with ~6 out-shadows
  per point the raw means are noisy, and where points barely differ in difficulty they only
  add noise. A point no shadow left out borrows its in-shadows minus the average in/out gap.
* ``lira`` online (``online=True``): the likelihood ratio of an in-Gaussian and an out-Gaussian.
* ``rmia`` offline (Zarifzadeh et al., 2024): the target's likelihood ratio on x against its
  ratios on population points z, through the out-shadows; see :mod:`micokit.rmia`.

Scores must lie in [0, 1]. Instead of Φ or a sigmoid, which round to exactly 1.0 beyond
z ≈ 8 or 37 and would tie the most confident members, scores are mapped through the strictly
increasing ``squash(t) = (1 + t / (1 + |t|)) / 2``, which keeps every ranking (the only thing
the metrics see) and stays below 1 for any finite t.

Each attack also scores itself on the ``train`` models with the scorer's own metric code:
a train model is never its own shadow (leave-one-model-out), so those figures are held out.
The shadows are always evaluated on every challenge point of the scenario (all phases of the
manifest), so a model's scores do not depend on which phases are attacked, and the
organizer's calibration report (``generator/publish/calibration.py``), which goes through the same
:func:`add_scenario`, reports exactly the train figures ``micokit attack`` prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from . import rmia
from .baselines import ATTACKS, BASELINES
from .errors import DataError, OptionError
from .layout import MANIFEST_FILE, PHASES, SECRET_PHASES, SOLUTION_FILE
from .loading import EVAL_BATCH, ModelRef, Scenario, Task, first_line, read_indices
from .scales import squash
from .submission import load_scorer

SHADOW_ATTACKS = tuple(name for name, baseline in BASELINES.items() if baseline.shadows)
VARIANCES = ("auto", "global", "per_point")
PER_POINT_MIN_SHADOWS = 32  # below this many out-shadows, per-point variances are too noisy
MIN_STD = 1e-3
MAX_SHRINKAGE = 1e6

Progress = Callable[[str], None]


def logit_confidence(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """φ = z_y − logsumexp_{j≠y} z_j per row, in float64."""
    z = logits.detach().to(torch.float64).cpu()
    y = labels.detach().to(torch.int64).cpu().view(-1, 1)
    own = z.gather(1, y).squeeze(1)
    others = z.scatter(1, y, float("-inf"))
    return (own - torch.logsumexp(others, dim=1)).numpy()


def finite_outputs(phi: np.ndarray, ref: ModelRef) -> np.ndarray:
    """φ of one model, or a DataError naming its folder if any is NaN or infinite.

    Weights that load but hold NaN or inf (a damaged or diverged model) give NaN logits; the
    scores built from them would fail deep inside the attack or the scorer's checks.
    """
    bad = int(np.count_nonzero(~np.isfinite(phi)))
    if bad:
        raise DataError(
            f"{ref.path}: the model's outputs are NaN or infinite on {bad} of {phi.size} points "
            "(its weights are damaged or diverged); re-download the data archive"
        )
    return phi


# ----------------------------------------------------------------------------- signals


@dataclass
class ScenarioSignals:
    """φ of every target model on its challenge points, and of the shadows on all of them."""

    scenario: Scenario
    targets: dict[tuple[str, str], np.ndarray]  # (phase, model) -> φ in challenge order
    columns: dict[tuple[str, str], np.ndarray]  # (phase, model) -> positions in ``union``
    membership: dict[str, np.ndarray]  # train model -> 0/1 per challenge point
    union: np.ndarray  # sorted dataset indices of every challenge point of the scenario
    shadow_names: list[str] = field(default_factory=list)
    shadow_phi: np.ndarray | None = None  # [shadows, len(union)]
    shadow_in: np.ndarray | None = None  # [shadows, len(union)] bool: trained on the point
    # RMIA: population points z (dataset indices), and φ of every model on them.
    population: np.ndarray | None = None
    population_phi: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    shadow_population_phi: np.ndarray | None = None  # [shadows, len(population)]
    shadow_population_in: np.ndarray | None = None  # [shadows, len(population)] bool


def compute_signals(
    task: Task,
    scenario: Scenario | str,
    phases: Iterable[str] = PHASES,
    shadows: bool = True,
    device: str | torch.device | None = "auto",
    batch_size: int = EVAL_BATCH,
    progress: Progress | None = None,
    population: int = 0,
) -> ScenarioSignals:
    """Load each model once and compute the φ values the attacks need.

    ``train`` models are always targets (for self-scoring); with ``shadows=True`` they are also
    run on ``union``, every challenge point of the scenario in every phase of the manifest
    (not only the targets' in ``phases``), for LiRA. LiRA's fit pools its variance, shrinkage
    weight and global means over the points the shadows see, so a fixed ``union`` makes every
    target's scores independent of ``phases``: attacking dev alone or dev and final gives the
    same dev and train scores. With ``population > 0`` (RMIA) every model also runs on that
    many population points outside ``union`` (:func:`micokit.rmia.population_indices`), the
    same for every target. Every index file is read and checked before the first model
    loads, so damaged data fails at once, by name.
    """
    scenario = task.scenario(scenario)
    phases = list(dict.fromkeys(["train", *phases]))
    refs = [ref for phase in phases for ref in task.models(scenario, phase)]
    targeted = {(ref.phase, ref.name) for ref in refs}
    others = [
        ref
        for phase in scenario.models
        for ref in task.models(scenario, phase)
        if (ref.phase, ref.name) not in targeted
    ]
    dataset = task.dataset(scenario)
    for ref in refs:
        ref.check(training=shadows)
    for ref in others:  # their challenge points only, for the shadows
        ref.check(training=False)
    union = np.unique(np.concatenate([ref.challenge_indices for ref in refs + others]))
    columns = {(r.phase, r.name): np.searchsorted(union, r.challenge_indices) for r in refs}
    signals = ScenarioSignals(scenario, {}, columns, {}, union)
    if population > 0:
        if not shadows:
            raise OptionError("RMIA needs shadow signals: compute_signals(..., shadows=True)")
        signals.population = rmia.population_indices(len(dataset.labels), union, population)
    union_points = dataset.points(union) if shadows else None
    union_labels = torch.as_tensor(dataset.labels[union])
    if signals.population is not None:
        z_points = dataset.points(signals.population)
    shadow_rows, in_rows, z_rows, z_in_rows = [], [], [], []
    for i, ref in enumerate(refs, 1):
        if progress:
            progress(f"{scenario.id}: model {i}/{len(refs)} ({ref.phase}/{ref.name})")
        model = ref.load(device)
        key = (ref.phase, ref.name)
        if ref.phase == "train":
            signals.membership[ref.name] = ref.membership
        if ref.phase == "train" and shadows:
            phi = finite_outputs(
                logit_confidence(model.logits(union_points, batch_size), union_labels), ref
            )
            signals.shadow_names.append(ref.name)
            shadow_rows.append(phi)
            in_rows.append(np.isin(union, ref.training_indices))
            signals.targets[key] = phi[columns[key]]
        else:
            points = ref.challenge_points()
            phi = logit_confidence(model.logits(points, batch_size), points.labels)
            signals.targets[key] = finite_outputs(phi, ref)
        if signals.population is not None:
            z_phi = finite_outputs(
                logit_confidence(model.logits(z_points, batch_size), z_points.labels), ref
            )
            signals.population_phi[key] = z_phi
            if ref.phase == "train":
                z_rows.append(z_phi)
                z_in_rows.append(np.isin(signals.population, ref.training_indices))
        del model
    if shadows:
        signals.shadow_phi = np.stack(shadow_rows)
        signals.shadow_in = np.stack(in_rows)
    if signals.population is not None:
        signals.shadow_population_phi = np.stack(z_rows)
        signals.shadow_population_in = np.stack(z_in_rows)
    return signals


# ----------------------------------------------------------------------------- attacks


def loss_scores(signals: ScenarioSignals) -> dict[tuple[str, str], np.ndarray]:
    """MICO's baseline: rank by −loss (equivalently by φ), mapped into (0, 1)."""
    return {key: squash(phi) for key, phi in signals.targets.items()}


@dataclass
class _Gaussians:
    """Per-point in/out statistics of the shadows, with pooled fallbacks."""

    mean_out: np.ndarray
    std_out: np.ndarray
    mean_in: np.ndarray
    std_in: np.ndarray


def _moments(phi: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = mask.sum(axis=0)
    total = np.where(mask, phi, 0.0).sum(axis=0)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    squares = np.where(mask, (phi - mean) ** 2, 0.0).sum(axis=0)
    return count, mean, squares


def _pooled_std(count: np.ndarray, squares: np.ndarray) -> float:
    dof = np.maximum(count - 1, 0).sum()
    return float(np.sqrt(squares.sum() / dof)) if dof > 0 else 1.0


def shrinkage_weight(count: np.ndarray, mean: np.ndarray, within_var: float) -> float:
    """κ of the empirical-Bayes estimate (k·mean + κ·prior) / (k + κ) of per-point means.

    κ = within-point variance / between-point variance, the latter estimated from the spread
    of per-point sample means minus their own sampling noise. Points that differ a lot in
    difficulty give κ → 0 (trust each point's shadows); points that are alike give κ → ∞
    (one global mean: the attack then ranks exactly like the loss attack).
    """
    enough = count >= 2
    if enough.sum() < 2:
        return 0.0
    between = float(np.var(mean[enough]) - np.mean(within_var / count[enough]))
    return min(within_var / between, MAX_SHRINKAGE) if between > 0 else MAX_SHRINKAGE


def fit_gaussians(
    phi: np.ndarray, trained: np.ndarray, variance: str = "auto", shrink: bool = True
) -> _Gaussians:
    """In/out Gaussians per point from shadow φ (rows: shadows) and in-membership masks.

    ``variance``: ``"global"`` pools the variance over points, ``"per_point"`` uses each
    point's own when it has at least two shadows, ``"auto"`` picks per point only when the
    median point has at least PER_POINT_MIN_SHADOWS out-shadows. ``shrink`` pulls each
    per-point mean toward the global one by :func:`shrinkage_weight` (few shadows per point
    make raw means noisy); a point without out- (in-) shadows uses its in- (out-) shadows
    shifted by the average in/out gap, or else the global mean.
    """
    check_variance(variance)
    n_out, raw_out, sq_out = _moments(phi, ~trained)
    n_in, raw_in, sq_in = _moments(phi, trained)
    global_out = float(phi[~trained].mean()) if (~trained).any() else 0.0
    global_in = float(phi[trained].mean()) if trained.any() else global_out
    both = (n_out > 0) & (n_in > 0)
    gap = float((raw_in - raw_out)[both].mean()) if both.any() else global_in - global_out
    pooled_out, pooled_in = _pooled_std(n_out, sq_out), _pooled_std(n_in, sq_in)
    kappa = shrinkage_weight(n_out, raw_out, pooled_out**2) if shrink else 0.0
    # Borrow the other side's shadows (shifted by the gap) where a point has none of its own.
    k_out = np.where(n_out > 0, n_out, n_in)
    m_out = np.where(n_out > 0, raw_out, raw_in - gap)
    k_in = np.where(n_in > 0, n_in, n_out)
    m_in = np.where(n_in > 0, raw_in, raw_out + gap)
    mean_out = _shrunk(k_out, m_out, kappa, global_out)
    mean_in = _shrunk(k_in, m_in, kappa, global_in)
    if variance == "auto":
        variance = "per_point" if np.median(n_out) >= PER_POINT_MIN_SHADOWS else "global"
    if variance == "per_point":
        std_out = np.where(n_out > 1, np.sqrt(sq_out / np.maximum(n_out - 1, 1)), pooled_out)
        std_in = np.where(n_in > 1, np.sqrt(sq_in / np.maximum(n_in - 1, 1)), pooled_in)
    else:
        std_out = np.full_like(mean_out, pooled_out)
        std_in = np.full_like(mean_in, pooled_in)
    return _Gaussians(mean_out, np.maximum(std_out, MIN_STD), mean_in, np.maximum(std_in, MIN_STD))


def check_variance(variance: str) -> None:
    """OptionError unless ``variance`` is one of :data:`VARIANCES`."""
    if variance not in VARIANCES:
        raise OptionError(f"variance must be 'auto', 'global' or 'per_point', not {variance!r}")


def _shrunk(count: np.ndarray, mean: np.ndarray, kappa: float, prior: float) -> np.ndarray:
    weight = count + kappa
    safe = np.where(weight > 0, weight, 1.0)
    return np.where(weight > 0, (count * mean + kappa * prior) / safe, prior)


def lira_scores(
    signals: ScenarioSignals, online: bool = False, variance: str = "auto", shrink: bool = True
) -> dict[tuple[str, str], np.ndarray]:
    """LiRA scores for every target; a train target is left out of its own shadows."""
    if signals.shadow_phi is None:
        raise OptionError("LiRA needs shadow signals: compute_signals(..., shadows=True)")
    names = np.asarray(signals.shadow_names)
    fits: dict[str | None, _Gaussians] = {}
    scores = {}
    for (phase, name), phi in signals.targets.items():
        held_out = name if phase == "train" else None
        if held_out not in fits:
            keep = names != held_out
            if not keep.any():
                raise DataError(
                    f"scenario {signals.scenario.id!r}: LiRA needs at least two train models; "
                    f"the manifest lists {len(names)}"
                )
            fits[held_out] = fit_gaussians(
                signals.shadow_phi[keep], signals.shadow_in[keep], variance, shrink
            )
        fit, cols = fits[held_out], signals.columns[(phase, name)]
        z_out = (phi - fit.mean_out[cols]) / fit.std_out[cols]
        if online:
            z_in = (phi - fit.mean_in[cols]) / fit.std_in[cols]
            ratio = 0.5 * (z_out**2 - z_in**2) + np.log(fit.std_out[cols] / fit.std_in[cols])
            scores[(phase, name)] = squash(ratio)
        else:
            scores[(phase, name)] = squash(z_out)
    return scores


def _references(signals: ScenarioSignals, keep: np.ndarray):
    """(union points, population) :class:`rmia.References` of the shadows ``keep`` (a mask)."""
    points = rmia.References.of(signals.shadow_phi[keep], signals.shadow_in[keep])
    population = rmia.References.of(
        signals.shadow_population_phi[keep], signals.shadow_population_in[keep]
    )
    return points, population


def tune_offline_a(signals: ScenarioSignals, held_out: str | None = None) -> float:
    """RMIA's ``a`` for targets other than the train model ``held_out``: the grid value whose
    attack on each remaining train model, with the others as references, has the highest
    pooled AUC (ties: the smaller ``a``). Needs two train models besides ``held_out``, one
    to attack and one as its reference; with fewer, 0.3."""
    names = np.asarray(signals.shadow_names)
    tuners = [name for name in signals.shadow_names if name != held_out]
    if len(tuners) < 2:
        return 0.3  # nothing to tune on: the paper's value for CIFAR-10
    labels = np.concatenate([signals.membership[name] for name in tuners])
    views = []
    for name in tuners:
        cols = signals.columns[("train", name)]
        points, population = _references(signals, (names != held_out) & (names != name))
        row = signals.shadow_names.index(name)
        target = rmia.Target(signals.shadow_phi[row, cols], signals.shadow_population_phi[row])
        views.append((target, points.at(cols), population))
    aucs = [
        rmia.auc(labels, np.concatenate([rmia.target_scores(*view, a) for view in views]))
        for a in rmia.A_GRID
    ]
    return rmia.A_GRID[int(np.argmax(aucs))]


def rmia_scores(
    signals: ScenarioSignals, offline_a: float | str = "auto"
) -> dict[tuple[str, str], np.ndarray]:
    """RMIA offline scores for every target; a train target is left out of its own references
    and of the tuning of its ``a`` (see :mod:`micokit.rmia`)."""
    rmia.check_offline_a(offline_a)
    if signals.shadow_population_phi is None:
        raise OptionError("RMIA needs population signals: compute_signals(..., population=N)")
    names = np.asarray(signals.shadow_names)
    if len(names) < 2:
        raise DataError(
            f"scenario {signals.scenario.id!r}: RMIA needs at least two train models; "
            f"the manifest lists {len(names)}"
        )
    fits: dict[str | None, tuple] = {}
    scores = {}
    for (phase, name), phi in signals.targets.items():
        held_out = name if phase == "train" else None
        if held_out not in fits:
            a = tune_offline_a(signals, held_out) if offline_a == "auto" else float(offline_a)
            fits[held_out] = (a, *_references(signals, names != held_out))
        a, points, population = fits[held_out]
        target = rmia.Target(phi, signals.population_phi[(phase, name)])
        view = points.at(signals.columns[(phase, name)])
        scores[(phase, name)] = rmia.target_scores(target, view, population, a)
    return scores


def attack_scores(
    signals: ScenarioSignals,
    attack: str,
    online: bool = False,
    variance: str = "auto",
    shrink: bool = True,
    offline_a: float | str = "auto",
) -> dict[tuple[str, str], np.ndarray]:
    """Scores of one attack for every target in ``signals``."""
    if attack == "loss":
        return loss_scores(signals)
    if attack == "lira":
        return lira_scores(signals, online=online, variance=variance, shrink=shrink)
    if attack == "rmia":
        return rmia_scores(signals, offline_a)
    raise OptionError(f"unknown attack {attack!r} (known: {', '.join(ATTACKS)})")


# ----------------------------------------------------------------------------- self-scoring


@dataclass
class AttackResult:
    """An attack's predictions for a task, and its held-out scores on the train models."""

    attack: str
    task: str
    predictions: dict[str, dict[str, dict[str, np.ndarray]]]  # scenario -> phase -> model -> scores
    train_labels: dict[str, np.ndarray]  # scenario -> membership, train models concatenated
    train_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    train_scores: dict[str, float] = field(default_factory=dict)  # the scorer's key names
    online: bool = False  # LiRA only: the online variant (in- and out-Gaussians)

    def pooled_train(self, scenario: str) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores) of every train model of a scenario, concatenated in manifest order."""
        scores = np.concatenate(list(self.predictions[scenario]["train"].values()))
        return self.train_labels[scenario], scores


def add_scenario(
    result: AttackResult,
    signals: ScenarioSignals,
    variance: str = "auto",
    shrink: bool = True,
    offline_a: float | str = "auto",
) -> None:
    """Add one scenario's predictions and train labels to ``result``.

    The attack is ``result.attack`` (LiRA online when ``result.online``); predictions cover
    every phase targeted in ``signals``, each phase's models in manifest order, as the scorer
    concatenates them. The one path from signals to scored predictions: :func:`run_attacks`
    and the organizer's calibration report both take it, so their figures cannot differ.
    """
    scenario = signals.scenario
    by_key = attack_scores(signals, result.attack, result.online, variance, shrink, offline_a)
    phases = dict.fromkeys(phase for phase, _ in signals.targets)
    result.predictions[scenario.id] = {
        phase: {name: by_key[(phase, name)] for name in scenario.models[phase]} for phase in phases
    }
    result.train_labels[scenario.id] = np.concatenate(
        [signals.membership[name] for name in scenario.models["train"]]
    )


def flat_scores(
    per_scenario: Sequence[tuple[Scenario, dict[str, float]]], scorer: ModuleType
) -> dict[str, float]:
    """Per-scenario metrics under the scorer's key names, plus its ranking average.

    Built the way the scorer builds scores.txt (same keys, same order, same float mean), and
    checked against its ``score_keys`` so that a renamed key cannot go unnoticed.
    """
    ranking_metric = scorer.RANKING_KEY.split("_", 1)[1]  # average_TPR_FPR_1000 -> TPR_FPR_1000
    scores: dict[str, float] = {}
    for scenario, metrics in per_scenario:
        for name, value in metrics.items():
            scores[f"scenario{scenario.position}_{name}"] = float(value)
    ranking = [metrics[ranking_metric] for _, metrics in per_scenario]
    scores[scorer.RANKING_KEY] = sum(ranking) / float(len(ranking))
    expected = scorer.score_keys(len(per_scenario))
    if set(scores) != set(expected):
        raise RuntimeError("the scorer's score keys differ from micokit's; update micokit")
    return {key: scores[key] for key in expected}


def score_train_predictions(
    result: AttackResult, scenarios: Sequence[Scenario], scorer: ModuleType
) -> None:
    """Fill ``train_metrics``/``train_scores`` with the scorer's ``compute_metrics``.

    Labels and scores are concatenated over the train models exactly as the scorer
    concatenates a phase's models, so ``train_scores`` equals what score.py reports for the
    same predictions against train solutions (``micokit score-train``).
    """
    for scenario in scenarios:
        labels, values = result.pooled_train(scenario.id)
        result.train_metrics[scenario.id] = dict(
            scorer.compute_metrics(labels, values, scenario.delta)
        )
    pairs = [(s, result.train_metrics[s.id]) for s in scenarios]
    result.train_scores = flat_scores(pairs, scorer)


def run_attacks(
    task: Task,
    attacks: Sequence[str] = ("lira",),
    *,
    phases: Iterable[str] = SECRET_PHASES,
    scenarios: Iterable[str] | None = None,
    online: bool = False,
    variance: str = "auto",
    shrink: bool = True,
    offline_a: float | str = "auto",
    population: int = rmia.POPULATION,
    device: str | torch.device | None = "auto",
    batch_size: int = EVAL_BATCH,
    scorer: ModuleType | None = None,
    score: bool = True,
    progress: Progress | None = None,
) -> dict[str, AttackResult]:
    """Run several attacks on one task, loading each model once; results keyed by attack.

    Predictions cover ``phases`` plus ``train`` (held out); a model's scores do not depend on
    ``phases`` (see :func:`compute_signals`). ``online`` applies to LiRA; ``offline_a`` and
    ``population`` (how many population points z) to RMIA. With ``score=True`` the train
    predictions are scored with the scorer's metric code (located like
    ``load_scorer``).
    """
    for attack in attacks:
        if attack not in ATTACKS:
            raise OptionError(f"unknown attack {attack!r} (known: {', '.join(ATTACKS)})")
    check_variance(variance)
    rmia.check_offline_a(offline_a)
    _check_count("population", population)
    _check_count("batch size", batch_size)
    chosen = [task.scenario(s) for s in scenarios] if scenarios else list(task.scenarios)
    phases = list(dict.fromkeys(["train", *phases]))
    results = {a: AttackResult(a, task.id, {}, {}, online=online and a == "lira") for a in attacks}
    for scenario in chosen:
        signals = compute_signals(
            task,
            scenario,
            phases,
            shadows=any(attack in SHADOW_ATTACKS for attack in attacks),
            device=device,
            batch_size=batch_size,
            progress=progress,
            population=population if "rmia" in attacks else 0,
        )
        for result in results.values():
            add_scenario(result, signals, variance, shrink, offline_a)
    if score:
        scorer = scorer or load_scorer(data_root=task.root.parent)
        for result in results.values():
            score_train_predictions(result, chosen, scorer)
    return results


def _check_count(name: str, value: object) -> None:
    """OptionError unless ``value`` is a positive integer (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionError(f"{name} must be a positive integer, not {value!r}")


def run_attack(task: Task, attack: str = "lira", **options) -> AttackResult:
    """One attack on one task; see :func:`run_attacks` for the options."""
    return run_attacks(task, (attack,), **options)[attack]


def score_against_reference(
    result: AttackResult, task: Task, reference: str | Path, scorer: ModuleType
) -> dict[str, float]:
    """Dev or final predictions scored with the scorer's ``compute_metrics`` against solutions.

    For organizers and tests, who hold reference data (one phase's folder: manifest.json and
    solutions): the values must equal what score.py reports for the packed submission.
    """
    root = Path(reference)
    phase = reference_phase(root / MANIFEST_FILE, task)
    pairs = []
    for scenario in task.scenarios:
        names = list(scenario.models[phase])
        folder = root / task.id / scenario.id / phase
        labels = np.concatenate([read_indices(folder / n / SOLUTION_FILE) for n in names])
        values = np.concatenate([result.predictions[scenario.id][phase][n] for n in names])
        pairs.append((scenario, scorer.compute_metrics(labels, values, scenario.delta)))
    return flat_scores(pairs, scorer)


def reference_phase(manifest: Path, task: Task) -> str:
    """The phase a reference folder scores, which every scenario of the task must have."""
    try:
        phase = json.loads(manifest.read_text(encoding="utf-8")).get("phase")
    except (OSError, ValueError, AttributeError) as error:
        raise DataError(
            f"{manifest}: cannot read a reference manifest ({first_line(error)})"
        ) from None
    if not isinstance(phase, str) or any(phase not in s.models for s in task.scenarios):
        raise DataError(
            f"{manifest}: phase {phase!r} is not a phase of every scenario of {task.id!r}"
        )
    return phase


__all__ = [
    "ATTACKS",
    "AttackResult",
    "ScenarioSignals",
    "add_scenario",
    "attack_scores",
    "check_variance",
    "rmia_scores",
    "tune_offline_a",
    "compute_signals",
    "fit_gaussians",
    "flat_scores",
    "lira_scores",
    "logit_confidence",
    "loss_scores",
    "run_attack",
    "run_attacks",
    "score_against_reference",
    "score_train_predictions",
    "shrinkage_weight",
    "squash",
]
