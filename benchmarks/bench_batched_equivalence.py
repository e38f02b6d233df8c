"""Batched vs standard trainer on a demo scenario: same seeds, then statistically compared.

Trains every model of one demo scenario (default ``tabular_hi``: 16 DP-SGD MLPs) twice from the
same splits and training seeds, once with ``trainer: standard`` (Opacus) and once with
``trainer: batched``, and prints per trainer the mean test accuracy and the loss attack's
TPR at 10% FPR pooled over the models' challenge points (the scorer's own metric code), then:

- paired: the largest per-model |Δ accuracy| and a Wilcoxon signed-rank test on the paired
  accuracies (same seeds: the two runs should differ only by floating-point summation order);
- unpaired: a Mann–Whitney U test on the accuracies of the batched run against a standard run
  from *other* seeds, and a two-proportion z-test on the members above the loss attack's
  10%-FPR threshold, which is what "statistically indistinguishable" must mean when the
  models are not the same ones.

    .venv/bin/python benchmarks/bench_batched_equivalence.py [--scenario tabular_hi]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scoring_program")]

from micokit.attacks import logit_confidence  # noqa: E402
from scorer_metrics import alpha_key, compute_metrics  # noqa: E402

from generator.build.datasets import load_dataset  # noqa: E402
from generator.build.store import select_models  # noqa: E402
from generator.build.trainers import Run, train_runs  # noqa: E402
from generator.spec.presets import load_preset  # noqa: E402
from generator.spec.seeds import model_seeds, torch_seed  # noqa: E402
from generator.spec.splits import make_split  # noqa: E402


def runs_for(preset, scenario, data, master: str):
    models = select_models(preset, tasks=[scenario.task], scenarios=[scenario.id])
    runs, splits = [], []
    for task in models:
        seeds = model_seeds(master, task.task, task.scenario, task.phase, task.index)
        split = make_split(
            len(data),
            scenario.n,
            scenario.m,
            seeds["challenge"],
            seeds["membership"],
            seeds["training"],
        )
        runs.append(Run(split.training, split.evaluation, torch_seed(seeds["train_run"])))
        splits.append(split)
    return runs, splits


def loss_tpr(trained, splits, data) -> tuple[float, int, int]:
    """The loss attack's TPR at 10% FPR over all models' challenge points, and the counts."""
    labels, scores = [], []
    for model, split in zip(trained, splits, strict=True):
        subset = data.subset(split.challenge)
        x, y = subset.tensors[0], subset.tensors[-1]
        with torch.no_grad():
            scores.append(logit_confidence(model.model(x), y))
        labels.append(split.membership)
    labels_all, scores_all = np.concatenate(labels), np.concatenate(scores)
    tpr = compute_metrics(labels_all, scores_all)[f"TPR_FPR_{alpha_key(0.1)}"]
    members = int(labels_all.sum())
    return float(tpr), int(round(tpr * members)), members


def train(scenario, data, runs, trainer: str):
    spec = replace(scenario, training=replace(scenario.training, trainer=trainer))
    started = time.perf_counter()
    with torch.random.fork_rng():
        trained = train_runs(spec, data, runs, torch.device("cpu"))
    return trained, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--scenario", default="tabular_hi")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset = load_preset(args.preset)
    scenario = next(s for t in preset.tasks for s in t.scenarios if s.id == args.scenario)
    data = load_dataset(scenario.dataset, None, scenario.model)
    runs, splits = runs_for(preset, scenario, data, "bench-equivalence")
    other_runs, other_splits = runs_for(preset, scenario, data, "bench-equivalence-other")
    results = {}
    for name, trainer, chosen, chosen_splits in (
        ("standard", "standard", runs, splits),
        ("batched", "batched", runs, splits),
        ("standard, other seeds", "standard", other_runs, other_splits),
    ):
        trained, seconds = train(scenario, data, chosen, trainer)
        accuracy = np.array([t.metadata["test_accuracy"] for t in trained])
        results[name] = (accuracy, loss_tpr(trained, chosen_splits, data), seconds)
        tpr, hits, members = results[name][1]
        print(
            f"{name:22s} {len(trained)} models in {seconds:6.1f} s; test accuracy "
            f"{accuracy.mean():.4f} ± {accuracy.std(ddof=1):.4f}; loss TPR@0.1 {tpr:.3f} "
            f"({hits}/{members} members)"
        )
    same_std, same_bat = results["standard"][0], results["batched"][0]
    diff = np.abs(same_std - same_bat)
    print(f"same seeds: max |Δ test accuracy| {diff.max():.5f}, mean {diff.mean():.5f}")
    if np.any(same_std != same_bat):
        print(f"  Wilcoxon signed-rank p = {stats.wilcoxon(same_std, same_bat).pvalue:.3f}")
    else:
        print("  Wilcoxon signed-rank: every paired accuracy identical")
    other = results["standard, other seeds"][0]
    u = stats.mannwhitneyu(same_bat, other, alternative="two-sided")
    print(f"batched vs standard (other seeds): Mann–Whitney U p = {u.pvalue:.3f} (accuracy)")
    (_, h1, n1), (_, h2, n2) = results["batched"][1], results["standard, other seeds"][1]
    pooled = (h1 + h2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) or 1.0
    z = (h1 / n1 - h2 / n2) / se
    print(
        f"  two-proportion z-test on loss TPR@0.1: z = {z:.2f}, p = {2 * stats.norm.sf(abs(z)):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
