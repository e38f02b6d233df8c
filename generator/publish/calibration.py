"""Calibration report for organizers: is each scenario neither trivial nor impossible, and are
the DP scenarios really harder?

Per scenario: achieved ε and σ (from the models' metadata), test accuracy over every model,
and the starting kit's baseline attacks (loss threshold, LiRA offline and online and RMIA
offline, with the train models as shadows or reference models, each train model held out from
its own fit) scored on the train
models with the scoring program's own metric code. The attacks run through the starting kit's
own path (``compute_signals``, ``add_scenario``, ``score_train_predictions``), so each point
figure is exactly what ``micokit attack`` prints for the same train models. Intervals come
from a cluster bootstrap over train models: a model's points stay together, because most of
the variation between runs comes from training randomness, not from which points were drawn.

Flags:
* *useless models*: mean test accuracy not clearly above chance (1 / classes), or, for a DP
  scenario, far below the ε = ∞ models of the same dataset and model (thresholds: the
  preset's ``report`` section, :func:`usefulness_flags`);
* *ordering*: a scenario with smaller ε whose attack metric is higher than that of a larger-ε
  scenario on the same dataset beyond both 95% intervals;
* *DP ceiling*: an attack whose empirical ε lower bound (the scorer's Clopper-Pearson bound)
  exceeds the achieved ε, or whose TPR lower bootstrap bound exceeds e^ε·FPR + δ;
* *no signal* / *trivial*: ε = ∞ with an AUC interval that includes 0.5, or TPR@0.1 ≥ 0.95;
* *weak signal*: ε = ∞ whose strongest attack's TPR@0.1 is below the preset's
  ``report.min_signal_tpr``, or whose interval is not above the lowest ε's strongest attack's;
* *DP more accurate*: DP models more accurate on average than the ε = ∞ ones.

The page opens with every scenario's utility–privacy point (mean test accuracy against the
strongest attack's TPR@0.1, both with 95% intervals) on one plot, and names the strongest
attack of each scenario (highest TPR@0.1 on the train models).

Writes ``<out>/<task>-report.html`` (self-contained, inline PNG plots) and
``<out>/<task>-report.json`` (scenario id → figures, for scripts).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from micokit.attacks import AttackResult, add_scenario, compute_signals, score_train_predictions
from micokit.datasets import TaskDataset
from micokit.loading import Task
from micokit.rmia import POPULATION
from micokit.submission import load_scorer

from ..build.datasets import load_dataset
from ..build.store import current_config_key
from ..spec.presets import Preset, ReportSpec, ScenarioSpec, TaskSpec
from ..writes import write_text_atomic
from .columns import SCORING_DIR
from .export import task_manifest

ALPHAS = (0.1, 0.01, 0.001)
TPR_METRICS = tuple(f"tpr_at_fpr_{a:g}" for a in ALPHAS)
METRICS = (*TPR_METRICS, "auc")
METRIC_TITLES = {**{f"tpr_at_fpr_{a:g}": f"TPR@{a:g}" for a in ALPHAS}, "auc": "AUC"}
ATTACK_TITLES = {
    "loss": "loss threshold",
    "lira": "LiRA offline",
    "lira_online": "LiRA online",
    "rmia": "RMIA offline",
}
# Report attack -> (micokit attack, LiRA online): the options ``micokit attack`` takes.
ATTACK_OPTIONS = {
    "loss": ("loss", False),
    "lira": ("lira", False),
    "lira_online": ("lira", True),
    "rmia": ("rmia", False),
}
# The targets whose signals the report computes. micokit's scores do not depend on the phases
# attacked (its shadows always see every challenge point of the scenario), so the train models
# alone give the figures ``micokit attack`` prints, without running the dev and final models.
SIGNAL_PHASES = ("train",)
BOOTSTRAP_REPLICATES = 1000
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 20230208
TRIVIAL_TPR = 0.95


@dataclass
class AttackFigures:
    """Pooled train-model figures of one attack on one scenario."""

    labels: np.ndarray
    scores: np.ndarray
    sizes: list[int]  # points per train model, to resample models
    point: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    eps_lb: float


# ----------------------------------------------------------------------------- measurement


def _dataset(task: TaskSpec, scenario_id: str, data_dir: Path | None) -> TaskDataset:
    spec = task.scenario(scenario_id)
    data = load_dataset(spec.dataset, data_dir, spec.model)
    if data.modality == "text":
        return TaskDataset(
            spec.dataset_name, np.asarray(data.labels), sentences=list(data.sentences)
        )
    return TaskDataset(spec.dataset_name, np.asarray(data.labels), features=data.features)


def _store_task(preset: Preset, task: TaskSpec, store: Path, data_dir: Path | None) -> Task:
    """The store seen through the starting kit: same tree, manifest built by the exporter."""
    manifest = task_manifest(preset, task, store)
    datasets = {}
    for scenario in task.scenarios:
        if scenario.dataset_name not in datasets:
            datasets[scenario.dataset_name] = _dataset(task, scenario.id, data_dir)
    return Task(store / task.id, manifest, datasets=datasets)


def _metrics_module(scorer):
    """The scorer's metric helpers (roc_counts, tpr_at_fprs, auc_from_roc) for the bootstrap."""
    return scorer.metrics


def _point_metrics(metrics, labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    roc = metrics.roc_counts(labels, scores)
    tprs = metrics.tpr_at_fprs(roc, ALPHAS)
    values = {name: float(v) for name, v in zip(TPR_METRICS, tprs, strict=True)}
    values["auc"] = float(metrics.auc_from_roc(roc))
    return values


def _bootstrap(metrics, labels, scores, sizes, rng) -> dict[str, tuple[float, float]]:
    """Percentile intervals with train models resampled with replacement."""
    starts = np.concatenate([[0], np.cumsum(sizes)])
    blocks = [np.arange(starts[i], starts[i + 1]) for i in range(len(sizes))]
    draws = {name: [] for name in METRICS}
    for _ in range(BOOTSTRAP_REPLICATES):
        chosen = rng.integers(0, len(blocks), len(blocks))
        idx = np.concatenate([blocks[i] for i in chosen])
        y, s = labels[idx], scores[idx]
        if y.all() or not y.any():
            continue
        for name, value in _point_metrics(metrics, y, s).items():
            draws[name].append(value)
    tail = (1 - CONFIDENCE) / 2 * 100
    return {
        name: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        for name, v in draws.items()
    }


def run_kit_attacks(kit_task: Task, scorer, device: str | None = "cpu") -> dict[str, AttackResult]:
    """Every report attack on every scenario of ``kit_task``, scored on the train models.

    The starting kit's own path from models to scored predictions, as ``micokit attack``
    takes it (with its default variance and shrinkage): the figures are the kit's.
    """
    results = {
        name: AttackResult(attack, kit_task.id, {}, {}, online=online)
        for name, (attack, online) in ATTACK_OPTIONS.items()
    }
    for scenario in kit_task.scenarios:
        signals = compute_signals(
            kit_task, scenario, phases=SIGNAL_PHASES, device=device, population=POPULATION
        )
        for result in results.values():
            add_scenario(result, signals)
    for result in results.values():
        score_train_predictions(result, kit_task.scenarios, scorer)
    return results


def report_point(metrics, scorer_metrics: dict[str, float]) -> dict[str, float]:
    """The report's point figures, read from the scorer's ``compute_metrics`` output."""
    point = {
        name: float(scorer_metrics[f"TPR_FPR_{metrics.alpha_key(alpha)}"])
        for alpha, name in zip(ALPHAS, TPR_METRICS, strict=True)
    }
    point["auc"] = float(scorer_metrics["AUC"])
    return point


def _attack_figures(scorer, results, scenario_id: str, rng) -> dict[str, AttackFigures]:
    metrics = _metrics_module(scorer)
    figures = {}
    for attack, result in results.items():
        labels, pooled = result.pooled_train(scenario_id)
        sizes = [len(v) for v in result.predictions[scenario_id]["train"].values()]
        full = result.train_metrics[scenario_id]
        figures[attack] = AttackFigures(
            labels,
            pooled,
            sizes,
            report_point(metrics, full),
            _bootstrap(metrics, labels, pooled, sizes, rng),
            float(full["eps_lb"]),
        )
    return figures


def _model_metadata(store: Path, task_id: str, scenario_id: str) -> list[dict[str, Any]]:
    paths = sorted((store / task_id / scenario_id).glob("*/model_*/metadata.json"))
    return [json.loads(p.read_text(encoding="utf-8")) for p in paths]


def _stale_train_models(store: Path, task_id: str, scenario: ScenarioSpec, data_dir) -> int:
    """Train models whose stored config key differs from the current preset's and dataset's.

    The report rebuilds the dataset from the preset: models trained under another preset,
    dataset or code version would be measured on data they were not trained on.
    """
    key = current_config_key(scenario, str(data_dir) if data_dir else None)
    stale = 0
    for path in sorted((store / task_id / scenario.id / "train").glob("model_*/private.json")):
        try:
            stale += json.loads(path.read_text(encoding="utf-8")).get("config_key") != key
        except (OSError, ValueError):
            stale += 1
    return stale


def _summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    acc = np.asarray([r["test_accuracy"] for r in records], dtype=np.float64)
    eps = [r.get("epsilon_achieved") for r in records if r.get("epsilon_achieved") is not None]
    sigma = [r.get("noise_multiplier") for r in records if r.get("noise_multiplier") is not None]
    return {
        "epsilon_achieved": max(eps) if eps else None,
        "epsilon_achieved_range": [min(eps), max(eps)] if eps else None,
        "noise_multiplier": float(np.mean(sigma)) if sigma else None,
        "sample_rate": records[0].get("sample_rate"),
        "steps": records[0].get("steps"),
        "test_accuracy_mean": float(acc.mean()),
        "test_accuracy_sd": float(acc.std(ddof=1)) if acc.size > 1 else 0.0,
        "test_accuracy_interval": _mean_interval(acc),
        "models": len(records),
    }


def _mean_interval(values: np.ndarray) -> list[float]:
    """Normal-approximation 95% interval of the mean over models (a point with one model)."""
    mean = float(values.mean())
    if values.size < 2:
        return [mean, mean]
    half = 1.96 * float(values.std(ddof=1)) / math.sqrt(values.size)
    return [mean - half, mean + half]


def _nondp_accuracy(preset: Preset, scenario: ScenarioSpec, store: Path) -> float | None:
    """Mean test accuracy of the preset's ε = ∞ models on the same dataset with the same model.

    Looked up in every task (a DP distinguisher scenario copies another task's setup); models
    not in the store yet are left out. None when there are none.
    """
    accuracies = [
        record["test_accuracy"]
        for task in preset.tasks
        for other in task.scenarios
        if other.epsilon is None
        and other.dataset_name == scenario.dataset_name
        and other.model == scenario.model
        for record in _model_metadata(store, task.id, other.id)
    ]
    return float(np.mean(accuracies)) if accuracies else None


# ----------------------------------------------------------------------------- flags


def usefulness_flags(sid: str, entry: dict[str, Any], spec: ReportSpec) -> list[str]:
    """Models that are not useful: not clearly above chance, or far below the ε = ∞ models.

    With chance c = 1 / classes and mean test accuracy a over the scenario's models, a flag
    when a < c + ``min_gain_over_chance`` · (1 − c). Otherwise, for a DP scenario whose ε = ∞
    counterpart (same dataset and model) reaches r > c: a flag when
    a < c + ``min_share_of_nondp_gain`` · (r − c), i.e. when DP keeps less than that share of
    the ε = ∞ models' gain over chance. Entry keys: ``test_accuracy_mean``,
    ``chance_accuracy``, ``epsilon_target``, ``nondp_accuracy_mean`` (None: none known).
    """
    accuracy, chance = entry["test_accuracy_mean"], entry["chance_accuracy"]
    least = chance + spec.min_gain_over_chance * (1 - chance)
    if accuracy < least:
        return [
            f"{sid}: useless models: mean test accuracy {accuracy:.3f} is not clearly above chance "
            f"{chance:.3f} (report.min_gain_over_chance = {spec.min_gain_over_chance:g} asks "
            f"for at least {least:.3f})"
        ]
    reference = entry.get("nondp_accuracy_mean")
    if entry["epsilon_target"] is not None and reference is not None and accuracy > reference:
        return [
            f"{sid}: DP more accurate: mean test accuracy {accuracy:.3f} is above the ε = ∞ "
            f"models' {reference:.3f}, so ε = ∞ is not the unprotected end of the scale"
        ]
    if entry["epsilon_target"] is None or reference is None or reference <= chance:
        return []
    least = chance + spec.min_share_of_nondp_gain * (reference - chance)
    if accuracy < least:
        share = (accuracy - chance) / (reference - chance)
        return [
            f"{sid}: useless models: mean test accuracy {accuracy:.3f} is far below the ε = ∞ "
            f"models' {reference:.3f}, keeping {share:.1%} of their gain over chance "
            f"{chance:.3f} (report.min_share_of_nondp_gain = {spec.min_share_of_nondp_gain:g} "
            f"asks for at least {least:.3f})"
        ]
    return []


def dp_ceiling(fpr: np.ndarray, epsilon: float, delta: float) -> np.ndarray:
    """Highest TPR any (ε, δ)-DP membership test can reach at each FPR (both constraints)."""
    fpr = np.asarray(fpr, dtype=np.float64)
    direct = math.exp(epsilon) * fpr + delta
    complement = 1.0 - (1.0 - delta - fpr) * math.exp(-epsilon)
    return np.clip(np.minimum(direct, complement), 0.0, 1.0)


def _eps_text(epsilon: float | None) -> str:
    return "∞" if epsilon is None else f"{epsilon:g}"


def _ceiling_flags(sid: str, entry: dict[str, Any], figures: dict[str, AttackFigures]) -> list[str]:
    epsilon = entry["epsilon_achieved"] or entry["epsilon_target"]
    flags = []
    for attack, fig in figures.items():
        if fig.eps_lb > epsilon:
            flags.append(
                f"{sid}: {ATTACK_TITLES[attack]} has an empirical ε lower bound of "
                f"{fig.eps_lb:.2f} (95% Clopper-Pearson), above the achieved ε = {epsilon:.2f}"
            )
        for alpha, name in zip(ALPHAS, TPR_METRICS, strict=True):
            ceiling = float(dp_ceiling(np.asarray([alpha]), epsilon, entry["delta"])[0])
            if fig.intervals[name][0] > ceiling:
                flags.append(
                    f"{sid}: {ATTACK_TITLES[attack]} TPR@{alpha:g} ≥ {fig.intervals[name][0]:.3f} "
                    f"(bootstrap lower bound) beats the DP ceiling {ceiling:.3f}"
                )
    return flags


def _ordering_flags(entries: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(scenario, flag): smaller ε easier than larger ε on the same dataset, beyond intervals."""
    flags = []
    rank = {
        sid: math.inf if e["epsilon_target"] is None else e["epsilon_target"]
        for sid, e in entries.items()
    }
    for a, ea in entries.items():
        for b, eb in entries.items():
            if ea["dataset"] != eb["dataset"] or not rank[a] > rank[b]:
                continue
            for attack in ATTACK_TITLES:
                for name in ("tpr_at_fpr_0.1", "auc"):
                    lo_b = eb[attack]["intervals"][name][0]
                    hi_a = ea[attack]["intervals"][name][1]
                    if lo_b > hi_a:
                        flags.append(
                            (
                                b,
                                f"ordering: {b} (ε = {_eps_text(eb['epsilon_target'])}) is easier than "
                                f"{a} (ε = {_eps_text(ea['epsilon_target'])}) for "
                                f"{ATTACK_TITLES[attack]} on {METRIC_TITLES[name]}: {lo_b:.3f} > {hi_a:.3f}",
                            )
                        )
    return flags


def strongest_attack(entry: dict[str, Any]) -> str:
    """The attack with the highest TPR@0.1 on the scenario's train models (first on ties)."""
    return max(ATTACK_TITLES, key=lambda attack: entry[attack]["tpr_at_fpr_0.1"])


def _weak_signal_flags(
    entries: dict[str, dict[str, Any]], spec: ReportSpec
) -> list[tuple[str, str]]:
    """(scenario, flag): an ε = ∞ scenario whose strongest attack stays below
    ``spec.min_signal_tpr`` at FPR 0.1, or whose interval is not above that of the lowest-ε
    scenario on the same dataset (its strongest attack's): ε = ∞ must show what DP removes."""
    flags = []
    for sid, entry in entries.items():
        if entry["epsilon_target"] is not None:
            continue
        best = entry[entry["strongest_attack"]]
        if best["tpr_at_fpr_0.1"] < spec.min_signal_tpr:
            flags.append(
                (
                    sid,
                    f"{sid}: weak signal: the strongest attack ({ATTACK_TITLES[entry['strongest_attack']]}) "
                    f"reaches TPR@0.1 = {best['tpr_at_fpr_0.1']:.3f} at ε = ∞ "
                    f"(report.min_signal_tpr = {spec.min_signal_tpr:g})",
                )
            )
        finite = [
            (other["epsilon_target"], oid)
            for oid, other in entries.items()
            if other["epsilon_target"] is not None and other["dataset"] == entry["dataset"]
        ]
        if not finite or not spec.min_signal_tpr:
            continue
        low_epsilon, low_id = min(finite)
        low = entries[low_id]
        low_hi = low[low["strongest_attack"]]["intervals"]["tpr_at_fpr_0.1"][1]
        inf_lo = best["intervals"]["tpr_at_fpr_0.1"][0]
        if inf_lo <= low_hi:
            flags.append(
                (
                    sid,
                    f"{sid}: weak signal: TPR@0.1 interval at ε = ∞ (lower end {inf_lo:.3f}) is not "
                    f"above {low_id}'s (ε = {low_epsilon:g}, upper end {low_hi:.3f})",
                )
            )
    return flags


def _signal_flags(sid: str, entry: dict[str, Any]) -> list[str]:
    flags = []
    best_auc_lo = max(entry[a]["intervals"]["auc"][0] for a in ATTACK_TITLES)
    if entry["epsilon_target"] is None and best_auc_lo <= 0.5:
        flags.append(
            f"{sid}: no baseline finds a membership signal at ε = ∞ (AUC interval includes 0.5)"
        )
    best_tpr = max(entry[a]["tpr_at_fpr_0.1"] for a in ATTACK_TITLES)
    if best_tpr >= TRIVIAL_TPR:
        flags.append(
            f"{sid}: a baseline already reaches TPR@0.1 = {best_tpr:.3f}; the scenario may be trivial"
        )
    return flags


# ----------------------------------------------------------------------------- rendering


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _roc_plot(plt, scorer, sid: str, entry, figures: dict[str, AttackFigures]) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    grid = np.logspace(-3, 0, 200)
    for attack, figs in figures.items():
        fpr, tpr, _ = scorer.roc_curve(figs.labels, figs.scores)
        label = f"{ATTACK_TITLES[attack]} (AUC {figs.point['auc']:.3f})"
        for ax in axes:
            ax.step(fpr, tpr, where="post", label=label)
    epsilon = entry["epsilon_achieved"] or entry["epsilon_target"]
    for ax, log in zip(axes, (False, True), strict=True):
        x = grid if log else np.linspace(0, 1, 200)
        ax.plot(x, x, color="grey", lw=0.8, ls=":", label="chance")
        if epsilon is not None:
            label = f"DP ceiling (ε = {epsilon:.2f}, δ = {entry['delta']:g})"
            ax.plot(x, dp_ceiling(x, epsilon, entry["delta"]), color="black", ls="--", label=label)
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(1e-3, 1)
            ax.set_ylim(1e-3, 1.05)
        ax.set_xlabel("FPR")
        ax.set_ylabel("TPR")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{sid}: train models, held-out attack scores")
    data = _png(fig)
    plt.close(fig)
    return data


def _summary_plot(plt, entries: dict[str, dict[str, Any]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ids = list(entries)
    width = 0.8 / len(ATTACK_TITLES)
    for j, attack in enumerate(ATTACK_TITLES):
        x = np.arange(len(ids)) + (j - (len(ATTACK_TITLES) - 1) / 2) * width
        y = [entries[s][attack]["tpr_at_fpr_0.1"] for s in ids]
        lo = [entries[s][attack]["intervals"]["tpr_at_fpr_0.1"][0] for s in ids]
        hi = [entries[s][attack]["intervals"]["tpr_at_fpr_0.1"][1] for s in ids]
        err = [np.subtract(y, lo), np.subtract(hi, y)]
        ax.errorbar(x, y, yerr=err, fmt="o", capsize=3, label=ATTACK_TITLES[attack])
    ax.axhline(0.1, color="grey", ls=":", lw=0.8)
    ax.set_xticks(np.arange(len(ids)))
    ax.set_xticklabels([f"{s}\nε = {_eps_text(entries[s]['epsilon_target'])}" for s in ids])
    ax.set_ylabel("TPR at FPR 0.1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data


def _utility_privacy_plot(plt, entries: dict[str, dict[str, Any]]) -> str:
    """Each scenario at (strongest attack's TPR@0.1, mean test accuracy), with 95% intervals."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for sid, entry in entries.items():
        best = entry[entry["strongest_attack"]]
        x, (x_lo, x_hi) = best["tpr_at_fpr_0.1"], best["intervals"]["tpr_at_fpr_0.1"]
        y, (y_lo, y_hi) = entry["test_accuracy_mean"], entry["test_accuracy_interval"]
        label = f"{sid} (ε = {_eps_text(entry['epsilon_target'])})"
        errors = {"xerr": [[x - x_lo], [x_hi - x]], "yerr": [[y - y_lo], [y_hi - y]]}
        ax.errorbar([x], [y], **errors, fmt="o", capsize=3, label=label)
    chance = {e["chance_accuracy"] for e in entries.values()}
    for level in sorted(chance):
        ax.axhline(level, color="grey", ls=":", lw=0.8)
    ax.axvline(0.1, color="grey", ls=":", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("TPR at FPR 0.1 of the strongest attack (train models)")
    ax.set_ylabel("mean test accuracy")
    ax.set_title("utility against privacy (dotted: chance)")
    ax.legend(fontsize=8, loc="lower right")
    data = _png(fig)
    plt.close(fig)
    return data


_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 70em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.55em; text-align: right; }
th { background: #eee; } td.l { text-align: left; }
.flag { color: #a40000; } .ok { color: #2a7a2a; } img { max-width: 100%; }
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "∞" if value is None else f"{value:.{digits}f}"


def _cell(attack_entry: dict[str, Any], name: str) -> str:
    lo, hi = attack_entry["intervals"][name]
    return f"<td>{attack_entry[name]:.3f}<br><small>[{lo:.3f}, {hi:.3f}]</small></td>"


def _scenario_html(sid: str, entry: dict[str, Any], roc_png: str) -> str:
    eps_range = entry["epsilon_achieved_range"]
    achieved = "∞" if eps_range is None else f"{eps_range[1]:.3f}"
    sigma = "—" if entry["noise_multiplier"] is None else f"{entry['noise_multiplier']:.4f}"
    facts = (
        f"<p>ε target {_eps_text(entry['epsilon_target'])}, achieved {achieved} "
        f"(δ = {entry['delta']:g}); noise multiplier σ = {sigma}; sample rate "
        f"{entry['sample_rate']:.4g}, {entry['steps']} steps; test accuracy "
        f"{entry['test_accuracy_mean']:.3f} ± {entry['test_accuracy_sd']:.3f} "
        f"(mean ± sd over {entry['models']} models; chance {entry['chance_accuracy']:.3f}"
        + (
            ""
            if entry["nondp_accuracy_mean"] is None or entry["epsilon_target"] is None
            else f", ε = ∞ models {entry['nondp_accuracy_mean']:.3f}"
        )
        + ").</p>"
    )
    head = "".join(f"<th>{METRIC_TITLES[n]}</th>" for n in METRICS)
    rows = [f"<tr><th>attack</th>{head}<th>ε lower bound</th></tr>"]
    for attack, title in ATTACK_TITLES.items():
        cells = "".join(_cell(entry[attack], n) for n in METRICS)
        name = f"<b>{title}</b> (strongest)" if attack == entry["strongest_attack"] else title
        rows.append(
            f"<tr><td class='l'>{name}</td>{cells}<td>{entry[attack]['eps_lb']:.3f}</td></tr>"
        )
    flags = "".join(f"<li class='flag'>{html.escape(f)}</li>" for f in entry["flags"])
    return (
        f"<h2>{html.escape(sid)} — {html.escape(entry['label'])}</h2>{facts}"
        f"<table>{''.join(rows)}</table>"
        + (f"<ul>{flags}</ul>" if flags else "<p class='ok'>no flags</p>")
        + f"<img alt='ROC curves of {html.escape(sid)}' src='data:image/png;base64,{roc_png}'>"
    )


def _page(task: TaskSpec, preset: Preset, entries, task_flags, pngs, summary_pngs) -> str:
    method = (
        f"Attacks run on the {next(iter(entries.values()))['train_models']} train models of each "
        "scenario; LiRA and RMIA use the other train models as shadows (leave-one-model-out; "
        f"RMIA also tunes its a on them and compares against {POPULATION} population points "
        "outside every challenge set, or all there are), so every score is held out. Metrics are computed with the scoring program's code on the train "
        "models' challenge points pooled, as the scorer pools a phase. Intervals: 95% percentile "
        f"bootstrap with train models resampled with replacement (B = {BOOTSTRAP_REPLICATES}); "
        "the attacks are not refitted per replicate. ε lower bound: the scorer's eps_lb."
    )
    flags = "".join(f"<li class='flag'>{html.escape(f)}</li>" for f in task_flags)
    overall = (
        f"<ul>{flags}</ul>"
        if flags
        else "<p class='ok'>No flags: every scenario's models are useful, DP models are no "
        "more accurate than ε = ∞ ones, ε = ∞ keeps a clear membership signal, ordering ε = ∞ "
        "≥ high ε ≥ low ε holds within intervals, and no attack beats a DP ceiling.</p>"
    )
    sections = "".join(_scenario_html(sid, e, pngs[sid]) for sid, e in entries.items())
    title = f"Calibration report — {task.title} ({preset.name})"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(method)}</p><h2>Flags</h2>{overall}"
        + "".join(
            f"<img alt='{alt}' src='data:image/png;base64,{png}'>"
            for alt, png in zip(
                ("utility against privacy per scenario", "TPR at FPR 0.1 per scenario"),
                summary_pngs,
                strict=True,
            )
        )
        + f"{sections}</body></html>\n"
    )


# ----------------------------------------------------------------------------- entry point


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


def build_report(
    preset: Preset,
    task: TaskSpec | str,
    store: Path,
    out_dir: Path,
    data_dir: Path | None = None,
    device: str = "cpu",
    torch_threads: int | None = 1,
) -> tuple[Path, Path]:
    """Measure every scenario of ``task`` on its train models and write the HTML and JSON.

    ``torch_threads``: intra-op threads during inference. The demo's tiny models are
    dominated by per-call overhead, and on a 2-core machine one thread ran the text task's
    inference about 3x faster than two; pass None to keep torch's setting (large models).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    previous = torch.get_num_threads()
    if torch_threads:
        torch.set_num_threads(torch_threads)
    try:
        return _build(preset, task, store, out_dir, data_dir, device, plt)
    finally:
        torch.set_num_threads(previous)


def _build(preset, task, store, out_dir, data_dir, device, plt) -> tuple[Path, Path]:
    task = preset.task(task) if isinstance(task, str) else task
    store, out_dir = Path(store), Path(out_dir)
    scorer = load_scorer(SCORING_DIR)
    kit_task = _store_task(preset, task, store, data_dir)
    results = run_kit_attacks(kit_task, scorer, device)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    entries: dict[str, dict[str, Any]] = {}
    all_figures = {}
    for scenario in task.scenarios:
        figures = _attack_figures(scorer, results, scenario.id, rng)
        classes = len(np.unique(kit_task.dataset(scenario.id).labels))
        entry = {
            "label": scenario.label,
            "dataset": scenario.dataset_name,
            "epsilon_target": scenario.epsilon,
            "delta": scenario.delta,
            **_summary(_model_metadata(store, task.id, scenario.id)),
            "classes": classes,
            "chance_accuracy": 1.0 / classes,
            "nondp_accuracy_mean": _nondp_accuracy(preset, scenario, store),
            "train_models": len(kit_task.scenario(scenario.id).models["train"]),
            "bootstrap": {
                "unit": "train model",
                "replicates": BOOTSTRAP_REPLICATES,
                "confidence": CONFIDENCE,
            },
        }
        for attack, fig in figures.items():
            entry[attack] = {
                **fig.point,
                "eps_lb": fig.eps_lb,
                "intervals": {k: list(v) for k, v in fig.intervals.items()},
            }
        entry["strongest_attack"] = strongest_attack(entry)
        entry["stale_train_models"] = _stale_train_models(store, task.id, scenario, data_dir)
        entry["flags"] = usefulness_flags(scenario.id, entry, preset.report)
        entry["flags"] += _signal_flags(scenario.id, entry)
        if entry["stale_train_models"]:
            entry["flags"].insert(
                0,
                f"{scenario.id}: {entry['stale_train_models']} train models are stale (trained "
                "under another preset, dataset or code version); regenerate before trusting "
                "these figures",
            )
        if scenario.is_dp:
            entry["flags"] += _ceiling_flags(scenario.id, entry, figures)
        entries[scenario.id] = entry
        all_figures[scenario.id] = figures
    for sid, flag in _ordering_flags(entries) + _weak_signal_flags(entries, preset.report):
        entries[sid]["flags"].append(flag)
    task_flags = [f for e in entries.values() for f in e["flags"]]
    pngs = {sid: _roc_plot(plt, scorer, sid, entries[sid], all_figures[sid]) for sid in entries}
    summaries = (_utility_privacy_plot(plt, entries), _summary_plot(plt, entries))
    page = _page(task, preset, entries, task_flags, pngs, summaries)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"{task.id}-report.html"
    json_path = out_dir / f"{task.id}-report.json"
    write_text_atomic(html_path, page)
    write_text_atomic(
        json_path, json.dumps(_json_ready(entries), indent=2, ensure_ascii=False) + "\n"
    )
    return html_path, json_path


def report_flags(json_path: Path) -> list[str]:
    """Every flag of a written report (``<task>-report.json``), in scenario order."""
    entries = json.loads(Path(json_path).read_text(encoding="utf-8"))
    return [flag for entry in entries.values() for flag in entry["flags"]]


__all__ = [
    "build_report",
    "dp_ceiling",
    "report_flags",
    "run_kit_attacks",
    "strongest_attack",
    "usefulness_flags",
]
