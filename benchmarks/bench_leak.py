"""How many Development submissions an adaptive participant needs to recover the dev labels.

Builds a reference folder shaped like one task of a preset (default: ``image`` of
presets/demo.yaml: 3 scenarios x 4 dev models x 2m = 100 challenge points, exactly m members per
model, labels drawn with a fixed seed), then lets the attacker of ``benchmarks/leak_attack.py``
choose each submission from what it has seen so far, scores every submission with the real
scoring program in-process (``score.score_submission`` on a submission folder, as the platform
would), and shows the attacker only what a *view* lets a participant read:

* what participants read today on both platforms for Development: every score at full
  precision (scores.txt / scores.json in the scoring output, and the scores printed to the
  scoring log: codalab-competitions apps/web/models.py ``get_file_for_download`` serves
  ``output.zip`` and ``stdout.txt`` to the submitter unless the phase is blind; codabench
  apps/api/serializers/submissions.py ``get_scoring_result`` / ``get_logs`` unless
  ``hide_output``, and ``get_detailed_result`` always), plus detailed_results.html;
* the candidate defences: (a) scores rounded to k decimals, (b) only the ranking column
  (per-scenario TPR@0.1) and no detailed results, (b') only the overall ranking score, (c) dev
  scored on a secret per-model subset of the challenge points (the reference and the submission
  are cut to the subset before the real scorer sees them), and combinations.

Views marked ``[real]`` are what the scorer itself writes with a ``disclosure`` in the dev
manifest (scoring_program/scorer_disclosure.py; the preset's ``competition.development_scores``
and ``development_decimals``): the attacker reads the numbers back from the scores.json the
scorer wrote, and the run checks that scores.txt, the printed log and detailed_results.html
show nothing more. The first row (today: no disclosure, what the Final phase still shows) reads
the full scores and the ROC plot samples. Other rows are simulated on the full output (the
detailed page at 4 decimals with rounded columns cannot be configured any more).

Every recovered label is checked against the truth at the end (a wrong one aborts the run).
A second part measures what the defences cost the leaderboard: a population of simulated
participants of graded strength is scored on dev (defended) and final (undefended) labels, and
the dev ranking is compared with the final one (Kendall tau-b) and with the true order.

    .venv/bin/python benchmarks/bench_leak.py [--full | --quick] [--max-submissions 300]

By default: before and after for the preset's default disclosure (today's full output, and the
default ``overall`` at 2 decimals) plus the other two settings at the same decimals, and a
smaller ranking study. ``--full`` runs all 13 views and the full ranking study (about 15 minutes
on the shared 2-core machine, two views at a time, ``--jobs``); ``--quick`` runs the before and
after rows up to 100 submissions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scoring_program"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import score  # noqa: E402  (the scoring program itself, imported from its folder)
import scorer_disclosure  # noqa: E402
import scorer_metrics as metrics  # noqa: E402
from leak_attack import ScenarioAttack, View, project, view_features  # noqa: E402

from generator.spec.schedule import parse_schedule  # noqa: E402  (the preset's own default)

SUBMISSIONS_PER_DAY = 30


# --- the competition's shape ---------------------------------------------------------------


@dataclass
class Shape:
    """One task of a preset: what the reference data of its Development phase holds."""

    task: str
    scenarios: list[str]
    m: int
    dev_models: int
    final_models: int


def default_disclosure(preset: Path) -> dict:
    """The preset's Development disclosure (competition.development_scores/_decimals), as the
    dev manifest carries it."""
    data = yaml.safe_load(preset.read_text(encoding="utf-8"))
    return parse_schedule(data.get("competition"), preset).development_disclosure.as_manifest()


# What a view shows, as the disclosure that makes the real scorer show it: "ranking" (each
# scenario's TPR@0.1) is the "scenarios" setting, which also shows their mean, a function of
# them.
VIEW_SCORES = {"all": "all", "ranking": "scenarios", "overall": "overall"}


def disclosure_of(view: View) -> dict | None:
    """The manifest ``disclosure`` under which the real scorer shows exactly what ``view``
    shows, or None when the view is simulated on the full output (full precision, or the
    detailed page of today, which a restricted phase no longer writes)."""
    if view.decimals is None or view.detailed:
        return None
    return {"scores": VIEW_SCORES[view.metrics], "decimals": view.decimals}


def read_shape(preset: Path, task_id: str) -> Shape:
    """The task's scenarios, m and model counts, read from the preset YAML."""
    data = yaml.safe_load(preset.read_text(encoding="utf-8"))
    for task in data["tasks"]:
        if task["id"] == task_id:
            if "m" not in task:
                raise SystemExit(f"{preset}: task {task_id} has no m of its own; pick another")
            return Shape(
                task_id,
                [s["id"] for s in task["scenarios"]],
                int(task["m"]),
                int(data["models"]["dev"]),
                int(data["models"]["final"]),
            )
    raise SystemExit(f"{preset}: no task {task_id!r}")


@dataclass
class Truth:
    """Hidden labels per scenario (dev models concatenated) and the secret scored subsets."""

    labels: list[np.ndarray]
    models: np.ndarray
    subsets: dict[float, list[np.ndarray]]


def draw_truth(shape: Shape, fractions: list[float], seed: int) -> Truth:
    """Exactly m members of each model's 2m points (the generator's rule), at random; for each
    subset fraction f, round(f m) members and as many non-members per model, at random."""
    rng = np.random.default_rng(seed)
    per_model = 2 * shape.m
    models = np.repeat(np.arange(shape.dev_models), per_model)
    labels = []
    for _ in shape.scenarios:
        parts = [rng.permutation(np.r_[np.ones(shape.m), np.zeros(shape.m)]).astype(int)]
        parts += [
            rng.permutation(np.r_[np.ones(shape.m), np.zeros(shape.m)]).astype(int)
            for _ in range(shape.dev_models - 1)
        ]
        labels.append(np.concatenate(parts))
    subsets: dict[float, list[np.ndarray]] = {}
    for f in fractions:
        keep = round(f * shape.m)
        masks = []
        for y in labels:
            mask = np.zeros(y.size, dtype=bool)
            for i in range(shape.dev_models):
                block = np.arange(i * per_model, (i + 1) * per_model)
                for value in (0, 1):
                    mask[rng.permutation(block[y[block] == value])[:keep]] = True
            masks.append(mask)
        subsets[f] = masks
    return Truth(labels, models, subsets)


# --- the real scorer -----------------------------------------------------------------------


@dataclass
class Seen:
    """What one scored submission showed: the score keys and values a participant reads, and
    (full output only) the scorer's result, whose ROC plot samples the detailed page draws."""

    scores: dict[str, float]
    result: score.ScoreResult | None


class Oracle:
    """Scores submissions with the scoring program against a reference built for one view.

    With a ``disclosure`` the dev manifest carries it and each submission is scored by
    ``score.main`` in platform mode (``INPUT OUTPUT``, as both platforms' workers run it); what
    the attacker reads is the scores.json it wrote, after checking that scores.txt and the
    printed log hold the same numbers and the detailed page nothing more.
    """

    def __init__(
        self,
        root: Path,
        shape: Shape,
        truth: Truth,
        subset: float | None,
        disclosure: dict | None = None,
    ) -> None:
        self.shape = shape
        self.truth = truth
        self.masks = truth.subsets[subset] if subset else None
        self.disclosure = disclosure
        self.root = root
        self.ref = root / "ref"
        self.res = root / "res"
        self.out = root / "out"
        shutil.rmtree(root, ignore_errors=True)
        self._write_reference()
        self.calls = 0

    def _model_slices(self) -> list[slice]:
        n = 2 * self.shape.m
        return [slice(i * n, (i + 1) * n) for i in range(self.shape.dev_models)]

    def _write_reference(self) -> None:
        shape = self.shape
        scenarios = []
        for k, sid in enumerate(shape.scenarios):
            y = self.truth.labels[k]
            dev = {}
            for i, part in enumerate(self._model_slices()):
                values = y[part] if self.masks is None else y[part][self.masks[k][part]]
                folder = self.ref / shape.task / sid / "dev" / f"model_{i}"
                folder.mkdir(parents=True)
                (folder / "solution.csv").write_text("".join(f"{v}\n" for v in values))
                dev[f"model_{i}"] = int(values.size)
            final = {f"model_{i}": 2 * shape.m for i in range(shape.final_models)}
            scenarios.append(
                {
                    "id": sid,
                    "label": sid,
                    "epsilon": None,
                    "delta": 1e-5,
                    "models": {"dev": dev, "final": final},
                }
            )
        manifest = {
            "format": "mico-reference/1",
            "task": shape.task,
            "phase": "dev",
            "scenarios": scenarios,
        }
        if self.disclosure is not None:
            manifest["disclosure"] = self.disclosure
        (self.ref / "manifest.json").write_text(json.dumps(manifest))

    def score(self, submission: list[np.ndarray]) -> Seen:
        """Write the submission folder (cut to the secret subset under defence c) and score it."""
        shape = self.shape
        for k, sid in enumerate(shape.scenarios):
            for i, part in enumerate(self._model_slices()):
                values = submission[k][part]
                if self.masks is not None:
                    values = values[self.masks[k][part]]
                self._write(shape.task, sid, "dev", i, values)
            if not self.calls:  # the final part only has to be there; files are overwritten
                for i in range(shape.final_models):
                    self._write(shape.task, sid, "final", i, np.full(2 * shape.m, 0.5))
        self.calls += 1
        if self.disclosure is None:
            result = score.score_submission(str(self.res), str(self.ref))
            return Seen(dict(result.scores), result)
        return Seen(self._platform_run(), None)

    def _platform_run(self) -> dict[str, float]:
        """Run the scorer as the platform does; return scores.json after checking that the
        other outputs agree with it and show nothing else."""
        self.out.mkdir(exist_ok=True)
        log, errors = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(errors):
            status = score.main([str(self.root), str(self.out)])
        if status != 0:
            raise SystemExit(f"the scorer failed ({status}): {errors.getvalue().strip()}")
        shown = json.loads((self.out / "scores.json").read_text())
        txt = (self.out / "scores.txt").read_text()
        page = (self.out / "detailed_results.html").read_text()
        printed = log.getvalue().splitlines()[1:]  # after "scored task ..., phase dev (...)"
        every = score.score_keys(len(self.shape.scenarios))
        hidden = [key for key in every if key not in shown]
        if (
            txt.splitlines() != printed
            or {k: float(v) for k, v in (line.split(":") for line in printed)} != shown
            or "<svg" in page
            or any(re.search(rf"\b{key}\b", page) for key in hidden)
        ):
            raise SystemExit("the scorer's outputs disagree or show more than scores.json")
        return shown

    def _write(self, task: str, sid: str, phase: str, i: int, values: np.ndarray) -> None:
        folder = self.res / task / sid / phase / f"model_{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "prediction.csv").write_text("".join(f"{float(v)!r}\n" for v in values))


def observed(seen: Seen, k: int, features) -> np.ndarray:
    """The visible numbers of scenario k, read from the scorer's own output: the score keys
    it showed, and (full output) the ROC plot samples that detailed_results.html draws
    (``roc_plot_points``)."""
    prefix = f"scenario{k + 1}_"
    out = []
    for f in features:
        if f.kind == "auc":
            value = seen.scores[prefix + "AUC"]
        elif f.kind == "mia":
            value = seen.scores[prefix + "MIA"]
        elif f.scenarios > 1:
            value = seen.scores[score.RANKING_KEY]
        elif f.cap in metrics.ALPHAS:
            value = seen.scores[f"{prefix}TPR_FPR_{metrics.alpha_key(f.cap)}"]
        else:
            lin, lin_tpr, log, log_tpr = metrics.roc_plot_points(seen.result.rocs[k])
            hits = np.flatnonzero(np.r_[lin, log] == f.cap)
            value = float(np.r_[lin_tpr, log_tpr][hits[0]])
        out.append(float(project(np.array([value]), f.decimals)[0]))
    return np.array(out)


def plot_grid(num_neg: int) -> np.ndarray:
    """The FPR grid of the detailed-results ROC plots (it depends on the non-member count)."""
    y = np.r_[np.ones(num_neg), np.zeros(num_neg)]
    roc = metrics.roc_counts(y, np.arange(y.size, dtype=float))
    lin, _, log, _ = metrics.roc_plot_points(roc)
    return np.unique(np.r_[lin, log])


def check_plot_readout(oracle: Oracle, shape: Shape) -> bool:
    """Does the real detailed_results.html give exact TP counts? Read the linear panel's
    polyline back (y = top + side * (1 - TPR)) and compare with roc_plot_points."""
    import re

    from scorer_report import _CHART, _TOP

    rng = np.random.default_rng(1)
    sub = [rng.random(2 * shape.m * shape.dev_models) for _ in shape.scenarios]
    result = oracle.score(sub).result
    page = score.output_contents(result)["detailed_results.html"]
    lines = re.findall(r'<polyline[^>]*points="([^"]+)"', page)
    _, lin_tpr, _, _ = metrics.roc_plot_points(result.rocs[0])
    ys = np.array([float(pair.split(",")[1]) for pair in lines[0].split()])
    tpr = 1.0 - (ys - _TOP) / _CHART
    num_pos = result.rocs[0].num_pos
    return bool(np.array_equal(np.round(tpr * num_pos), np.round(lin_tpr * num_pos)))


# --- the attack loop ---------------------------------------------------------------------


@dataclass
class Outcome:
    view: View
    needed: int | None  # submissions to recover every recoverable label, None if not reached
    recovered: list[int]  # labels known after each submission
    recoverable: int
    seconds: float


def run_attack(
    view: View, shape: Shape, truth: Truth, root: Path, limit: int, seed: int, candidates: int
) -> Outcome:
    started = time.perf_counter()
    oracle = Oracle(root, shape, truth, view.subset, disclosure_of(view))
    per_model = 2 * shape.m
    targets = round(view.subset * shape.m) if view.subset else shape.m
    num_neg = targets * shape.dev_models
    features = view_features(
        view, metrics.ALPHAS, metrics.RANKING_ALPHA, plot_grid(num_neg), len(shape.scenarios)
    )
    rng = np.random.default_rng(seed)
    attackers = [
        ScenarioAttack(truth.models, targets, bool(view.subset), features, rng, candidates)
        for _ in shape.scenarios
    ]
    recovered: list[int] = []
    needed = None
    filler = np.full(per_model * shape.dev_models, 0.5)
    for n in range(1, limit + 1):
        active = [not a.done for a in attackers]
        if view.metrics == "overall":  # one number for all scenarios: one scenario at a time
            first = active.index(True)
            active = [k == first for k in range(len(attackers))]
        plans = [a.plan() if on else None for a, on in zip(attackers, active, strict=True)]
        result = oracle.score([filler if p is None else p.scores for p in plans])
        for k, (attacker, plan) in enumerate(zip(attackers, plans, strict=True)):
            if plan is not None:
                attacker.learn(plan, observed(result, k, features))
        recovered.append(sum(a.recovered().size for a in attackers))
        if all(a.done for a in attackers):
            needed = n
            break
    for k, attacker in enumerate(attackers):
        known = attacker.recovered()
        wrong = np.count_nonzero(attacker.state[known] - 1 != truth.labels[k][known])
        if view.subset:
            excluded = np.flatnonzero(attacker.state == 0)
            wrong += np.count_nonzero(truth.subsets[view.subset][k][excluded])
        if wrong:
            raise SystemExit(f"view {view.name}: {wrong} recovered labels are wrong (a bug)")
    recoverable = sum(
        int(np.count_nonzero(truth.subsets[view.subset][k])) if view.subset else y.size
        for k, y in enumerate(truth.labels)
    )
    return Outcome(view, needed, recovered, recoverable, time.perf_counter() - started)


def _distinct(values: np.ndarray, decimals: int | None) -> int:
    return int(np.unique(values if decimals is None else project(values, decimals)).size)


def info_bound(view: View, shape: Shape) -> tuple[float, int]:
    """An attacker-independent floor: bits one submission can show at most (each visible number
    counted as if independent, log2 of how many values it can take), and the submissions that
    any attacker needs to learn everything the dev score depends on (which points are scored
    and their labels), i.e. its entropy divided by those bits."""
    targets = round(view.subset * shape.m) if view.subset else shape.m
    pos = neg = targets * shape.dev_models
    scenarios = len(shape.scenarios)
    features = view_features(view, metrics.ALPHAS, metrics.RANKING_ALPHA, plot_grid(neg), scenarios)
    bits = 0.0
    for f in features:
        if f.kind == "tpr" and f.scenarios > 1:  # sums of one TPR per scenario
            values = np.arange(scenarios * pos + 1) / float(pos) / scenarios
        elif f.kind == "tpr":
            values = np.arange(pos + 1) / float(pos)
        elif f.kind == "auc":
            values = np.arange(2 * pos * neg + 1) / (2.0 * pos * neg)
        else:
            values = np.unique(
                np.subtract.outer(np.arange(pos + 1) / pos, np.arange(neg + 1) / neg)
            )
            values = values[values >= 0]
        bits += math.log2(_distinct(values, f.decimals))
    per_model = math.log2(math.comb(2 * shape.m, shape.m))
    if view.subset:
        per_model += 2 * math.log2(math.comb(shape.m, targets))
    entropy = per_model * shape.dev_models * len(shape.scenarios)
    per_submission = bits * (1 if view.metrics == "overall" else scenarios)
    return per_submission, math.ceil(entropy / per_submission)


def at(outcome: Outcome, n: int) -> str:
    if n > len(outcome.recovered):
        return "-" if outcome.needed is None else str(outcome.recoverable)
    return str(outcome.recovered[n - 1])


# --- what the defences cost the ranking ----------------------------------------------------


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b (ties in either ranking count neither way), O(n^2) for small n."""
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(a.size, 1)
    da, db = da[upper], db[upper]
    denom = math.sqrt(np.count_nonzero(da) * np.count_nonzero(db))
    return float(np.sum(da * db) / denom) if denom else 0.0


def ranking_scores(
    scores: list[np.ndarray], labels: list[np.ndarray], masks: list[np.ndarray] | None
) -> float:
    """The ranking score exactly as the scorer builds it: mean over scenarios of TPR@0.1."""
    values = []
    for k, (s, y) in enumerate(zip(scores, labels, strict=True)):
        if masks is not None:
            s, y = s[masks[k]], y[masks[k]]
        roc = metrics.roc_counts(y, s)
        values.append(float(metrics.tpr_at_fprs(roc, [metrics.RANKING_ALPHA])[0]))
    return sum(values) / len(values)


def ranking_cost(
    shape: Shape, defences: list[tuple[str, int | None, float | None]], people: int, reps: int
) -> list[tuple[str, float, float, float]]:
    """Per defence: mean tau-b(dev, final), mean tau-b(dev, true order), mean std of a
    participant's dev ranking score over repetitions. Participants' attacks are Gaussian
    score shifts d (members N(d, 1), non-members N(0, 1)), d graded from 0.1 to 1.6, weaker at
    lower epsilon (x1, x0.7, x0.5 over the scenarios)."""
    rng = np.random.default_rng(7)
    strength = np.linspace(0.1, 1.6, people)
    scale = np.array([1.0, 0.7, 0.5])[: len(shape.scenarios)]
    rows = {name: ([], [], []) for name, _, _ in defences}
    for _ in range(reps):
        truth = draw_truth(shape, sorted({f for _, _, f in defences if f}), int(rng.integers(1e9)))
        final_labels = draw_truth(shape, [], int(rng.integers(1e9))).labels
        dev_raw = {name: np.zeros(people) for name, _, _ in defences}
        final = np.zeros(people)
        for i, d in enumerate(strength):
            dev_s = [rng.normal(d * c * y, 1.0) for c, y in zip(scale, truth.labels, strict=True)]
            fin_s = [rng.normal(d * c * y, 1.0) for c, y in zip(scale, final_labels, strict=True)]
            final[i] = ranking_scores(fin_s, final_labels, None)
            for name, _, f in defences:
                masks = truth.subsets[f] if f else None
                dev_raw[name][i] = ranking_scores(dev_s, truth.labels, masks)
        for name, decimals, _ in defences:
            dev = dev_raw[name]
            shown = project(dev, decimals)
            rows[name][0].append(kendall_tau_b(shown, final))
            rows[name][1].append(kendall_tau_b(shown, strength))
            rows[name][2].append(dev)
    out = []
    for name, _, _ in defences:
        taus_final, taus_true, devs = rows[name]
        spread = float(np.mean(np.std(np.array(devs), axis=0)))
        out.append((name, float(np.mean(taus_final)), float(np.mean(taus_true)), spread))
    return out


# --- main --------------------------------------------------------------------------------------


def views(mode: str, default: dict) -> list[View]:
    """``full``: every view; otherwise today's output (before) and the preset's default
    disclosure (after), and by default also the other two settings at the same decimals."""
    full = [
        View("today: all scores, full precision, detailed page", "all", None, True),
        View("all columns, 4 decimals, detailed page", "all", 4, True),
        View("(a) all columns, 4 decimals, no detailed page", "all", 4, False),
        View("(a) all columns, 3 decimals, no detailed page", "all", 3, False),
        View("(a) all columns, 2 decimals, no detailed page", "all", 2, False),
        View("(b) ranking only, full precision", "ranking", None, False),
        View("(b) ranking only, 4 decimals", "ranking", 4, False),
        View("(b) ranking only, 2 decimals", "ranking", 2, False),
        View("(b') overall score only, 2 decimals", "overall", 2, False),
        View("(c) 50% subset, all scores full, detailed", "all", None, True, 0.5),
        View("(b+c) ranking only, 4 decimals, 50% subset", "ranking", 4, False, 0.5),
        View("(b+c) ranking only, 2 decimals, 50% subset", "ranking", 2, False, 0.5),
        View("(b'+c) overall only, 2 decimals, 50% subset", "overall", 2, False, 0.5),
    ]
    if mode == "full":
        return full
    metrics_of = {setting: view for view, setting in VIEW_SCORES.items()}
    decimals = default["decimals"]
    settings = [default["scores"]]
    if mode == "default":
        settings += [s for s in scorer_disclosure.SCORE_VIEWS if s != default["scores"]]
    chosen = [full[0]]
    for setting in settings:
        name = f"development_scores: {setting}, {decimals} decimals"
        if setting == default["scores"]:
            name += " (default)"
        chosen.append(View(name, metrics_of[setting], decimals, False))
    return chosen


def shown_name(view: View) -> str:
    return ("[real] " if disclosure_of(view) else "") + view.name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=str(ROOT / "presets" / "demo.yaml"))
    parser.add_argument("--task", default="image")
    parser.add_argument("--max-submissions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--candidates",
        type=int,
        default=4096,
        help="joint candidate labelings the attacker tests per scenario",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="all 13 views, full ranking study")
    size.add_argument("--quick", action="store_true", help="before/after only, 100 submissions")
    parser.add_argument("--only", help="run only the views whose name contains this text")
    parser.add_argument("--jobs", type=int, default=2, help="views attacked in parallel")
    args = parser.parse_args()
    mode = "full" if args.full else "quick" if args.quick else "default"
    shape = read_shape(Path(args.preset), args.task)
    default = default_disclosure(Path(args.preset))
    limit = min(args.max_submissions, 100) if args.quick else args.max_submissions
    chosen = [v for v in views(mode, default) if not args.only or args.only in v.name]
    truth = draw_truth(shape, [0.5], args.seed)
    total = sum(y.size for y in truth.labels)
    print(
        f"task {shape.task} of {args.preset}: {len(shape.scenarios)} scenarios x "
        f"{shape.dev_models} dev models x {2 * shape.m} points = {total} dev labels; "
        f"attacker tests up to {args.candidates} candidate labelings per scenario and submission"
    )
    print(
        f"preset default: development_scores {default['scores']}, development_decimals "
        f"{default['decimals']}; [real]: scored by score.py with that disclosure in the manifest"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-leak-") as scratch:
        root = Path(scratch)
        probe = Oracle(root / "probe", shape, truth, None)
        print(
            "detailed_results.html ROC plot gives exact TP counts: "
            f"{'yes' if check_plot_readout(probe, shape) else 'no'}"
        )
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = [
                pool.submit(
                    run_attack,
                    view,
                    shape,
                    truth,
                    root / f"v{i}",
                    limit,
                    args.seed,
                    args.candidates,
                )
                for i, view in enumerate(chosen)
            ]
            outcomes = []
            for future in futures:
                outcome = future.result()
                outcomes.append(outcome)
                print(f"  ran {shown_name(outcome.view)}: {outcome.seconds:.0f} s", flush=True)
    print()
    base = outcomes[0].needed
    head = (
        f"{'view':<56} {'subs to all':>11} {'days':>5} {'@30':>5} {'@100':>5} "
        f"{'@' + str(limit):>5} {'max':>5} {'x cost':>6} {'bits/sub':>8} {'floor':>5}"
    )
    print(head)
    print("-" * len(head))
    for o in outcomes:
        print(
            f"{shown_name(o.view):<56} {needed_text(o, limit):>11} {days_text(o):>5} "
            f"{at(o, 30):>5} {at(o, 100):>5} {at(o, limit):>5} {o.recoverable:>5} "
            f"{cost_text(o, base, limit):>6} {info_bound(o.view, shape)[0]:>8.0f} "
            f"{info_bound(o.view, shape)[1]:>5}"
        )
    print(
        "\nsubs to all: submissions until every label the view can reveal is known; @N: labels "
        f"known after N submissions; max: labels the dev score depends on; days at "
        f"{SUBMISSIONS_PER_DAY} submissions a day; x cost: relative to the first row; bits/sub: "
        "most bits one submission can show (all scenarios); floor: submissions any attacker "
        "needs at least to learn everything the dev score depends on."
    )
    after = next((o for o in outcomes if o.view.name.endswith("(default)")), None)
    if after is not None:
        print(
            f"\ndefault before/after: every dev label in {needed_text(outcomes[0], limit)} "
            f"submissions before, {needed_text(after, limit)} after "
            f"({cost_text(after, base, limit)} x; {at(after, limit)} labels after {limit}, "
            f"at least {info_bound(after.view, shape)[1]} submissions for any attacker)"
        )
    people, reps = (20, 60) if mode == "full" else (12, 20)
    decimals = default["decimals"]
    defences = [("no defence", None, None), (f"(a) {decimals} decimals (default)", decimals, None)]
    if mode == "full":
        defences = [
            ("no defence", None, None),
            ("(a) 4 decimals", 4, None),
            ("(a) 3 decimals", 3, None),
            ("(a) 2 decimals", 2, None),
            ("(c) 75% subset", None, 0.75),
            ("(c) 50% subset", None, 0.5),
            ("(c) 50% subset, 4 decimals", 4, 0.5),
            ("(c) 50% subset, 2 decimals", 2, 0.5),
        ]
    print(
        f"\nranking signal ({people} participants, {reps} repetitions; the dev ranking uses the "
        "overall score, so which other scores are shown changes nothing):"
    )
    print(
        f"{'dev leaderboard':<30} {'tau(dev,final)':>15} {'tau(dev,true)':>14} {'std(dev score)':>15}"
    )
    for name, tau_final, tau_true, spread in ranking_cost(shape, defences, people, reps):
        print(f"{name:<30} {tau_final:>15.3f} {tau_true:>14.3f} {spread:>15.4f}")
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0


def needed_text(outcome: Outcome, limit: int) -> str:
    return str(outcome.needed) if outcome.needed else f">{limit}"


def days_text(outcome: Outcome) -> str:
    return f"{outcome.needed / SUBMISSIONS_PER_DAY:.1f}" if outcome.needed else "-"


def cost_text(outcome: Outcome, base: int | None, limit: int) -> str:
    if not base:
        return "-"
    return f"{outcome.needed / base:.1f}" if outcome.needed else f">{limit / base:.0f}"


if __name__ == "__main__":
    sys.exit(main())
