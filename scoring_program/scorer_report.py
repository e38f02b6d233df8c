"""What the scorer writes: scores.txt, scores.json and detailed_results.html.

``score_keys`` is the single definition of the score keys: the writer below iterates over it,
and the bundle builder renders competition.yaml's leaderboard columns from it, so the two can
never drift apart. Only aggregate numbers are written; the ROC plots are sampled on fixed FPR
grids (see ``scorer_metrics.roc_plot_points``) instead of drawing the per-point staircase.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections import OrderedDict
from collections.abc import Sequence

import scorer_metrics as metrics
from scorer_inputs import Reference

OUTPUT_FILES = ("scores.txt", "scores.json", "detailed_results.html")
RANKING_KEY = f"average_TPR_FPR_{metrics.alpha_key(metrics.RANKING_ALPHA)}"


def score_keys(num_scenarios: int) -> list[str]:
    """Every key written to scores.txt / scores.json, in order; k follows the manifest order."""
    keys = [
        f"scenario{k}_{name}" for k in range(1, num_scenarios + 1) for name in metrics.METRIC_NAMES
    ]
    keys.append(RANKING_KEY)
    return keys


def build_scores(per_scenario: Sequence[dict[str, float]]) -> dict[str, float]:
    """Flat scores in ``score_keys`` order; the ranking is the mean TPR@0.1 over scenarios."""
    ranking_name = f"TPR_FPR_{metrics.alpha_key(metrics.RANKING_ALPHA)}"
    values: dict[str, float] = {}
    for k, scenario_metrics in enumerate(per_scenario, 1):
        for name, value in scenario_metrics.items():
            values[f"scenario{k}_{name}"] = value
    ranking = [m[ranking_name] for m in per_scenario]
    values[RANKING_KEY] = sum(ranking) / float(len(ranking))
    keys = score_keys(len(per_scenario))
    if set(values) != set(keys):
        raise RuntimeError("the computed metrics do not match score_keys()")
    scores: dict[str, float] = OrderedDict()
    for key in keys:
        value = float(values[key])
        if not math.isfinite(value):
            raise RuntimeError(f"score {key} is not a finite number")
        scores[key] = value
    return scores


def scores_txt(scores: dict[str, float]) -> str:
    """``key: value`` lines as CodaLab reads them (one colon, float(value) must parse)."""
    return "".join(f"{key}: {value!r}\n" for key, value in scores.items())


def scores_json(scores: dict[str, float]) -> str:
    """The same keys and values for Codabench; json writes floats with the same repr."""
    return json.dumps(scores, indent=2) + "\n"


# --- detailed results ------------------------------------------------------------------------

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.3em 0.6em; text-align: right; }
th { background: #eee; } td.name { text-align: left; }
code { font-size: 0.9em; } img { max-width: 100%; }
"""

_COLUMNS = [(f"TPR_FPR_{metrics.alpha_key(a)}", f"TPR@{a:g}") for a in metrics.ALPHAS] + [
    ("AUC", "AUC"),
    ("MIA", "MIA (max TPR &minus; FPR)"),
    ("accuracy", "balanced accuracy"),
    ("eps_lb", "&epsilon; lower bound"),
]


def _fmt(value: float | None) -> str:
    return "&infin;" if value is None else f"{value:.4f}"


def _table(reference: Reference, per_scenario: Sequence[dict[str, float]]) -> str:
    head = "".join(f"<th>{title}</th>" for _, title in _COLUMNS)
    rows = [
        "<tr><th>k</th><th>scenario</th><th>&epsilon; target</th><th>&delta;</th>"
        f"<th>models</th><th>challenge points</th>{head}</tr>"
    ]
    for k, scenario in enumerate(reference.scenarios, 1):
        values = per_scenario[k - 1]
        cells = "".join(
            f'<td title="scenario{k}_{key}">{_fmt(values[key])}</td>' for key, _ in _COLUMNS
        )
        name = f"{html.escape(scenario.label)}<br><code>{html.escape(scenario.id)}</code>"
        counts = scenario.models[reference.phase]
        rows.append(
            f'<tr><td>{k}</td><td class="name">{name}</td><td>{_fmt(scenario.epsilon)}</td>'
            f"<td>{scenario.delta:g}</td><td>{len(counts)}</td><td>{sum(counts.values())}</td>"
            f"{cells}</tr>"
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _method_notes() -> str:
    notes = [
        (
            "A challenge point is predicted a member when its score is at least the "
            "threshold; tied scores always fall on the same side."
        ),
        "TPR@&alpha; is the largest TPR over thresholds whose FPR is <em>at most</em> &alpha;.",
        (
            "AUC counts ties one half; MIA is the membership advantage max(TPR &minus; FPR); "
            "balanced accuracy is max(1 &minus; (FPR + FNR)/2)."
        ),
        (
            f"Ranking score <code>{RANKING_KEY}</code>: mean of TPR@{metrics.RANKING_ALPHA:g} "
            "over the scenarios."
        ),
        html.escape(metrics.EPS_METHOD),
        (
            "Metrics pool all challenge points of all models of a scenario in the scored "
            "phase. The ROC plots show TPR@FPR on fixed FPR grids, not the per-point staircase."
        ),
    ]
    return "<ul>\n" + "\n".join(f"<li>{note}</li>" for note in notes) + "\n</ul>"


def _plot_png(roc: metrics.Roc, title: str) -> bytes:
    """One PNG with the linear and the log-log ROC; Agg canvas, no pyplot global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    lin_x, lin_y, log_x, log_y = metrics.roc_plot_points(roc)
    fig = Figure(figsize=(9.0, 3.8), dpi=80)
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    axes_lin = fig.add_subplot(1, 2, 1)
    axes_lin.plot(lin_x, lin_y, color="C0", label="attack")
    axes_lin.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="chance")
    axes_lin.set_xlim(0, 1)
    axes_lin.set_ylim(0, 1)
    axes_lin.legend(loc="lower right")
    axes_log = fig.add_subplot(1, 2, 2)
    floor = float(log_x[0])
    axes_log.plot(log_x, [max(y, floor / 10.0) for y in log_y], color="C0")
    axes_log.plot([floor, 1], [floor, 1], color="0.6", linestyle="--")
    axes_log.set_xscale("log")
    axes_log.set_yscale("log")
    axes_log.set_xlim(floor, 1)
    axes_log.set_ylim(floor, 1)
    decades = [10.0**e for e in range(round(math.log10(floor)), 1)]
    labels = [f"{d:g}" for d in decades]
    for axis in (axes_log.xaxis, axes_log.yaxis):
        # Plain tick labels: the default log formatter's mathtext costs ~0.3 s per run.
        axis.set_major_locator(FixedLocator(decades))
        axis.set_major_formatter(FixedFormatter(labels))
        axis.set_minor_locator(NullLocator())
    for axes, scale in ((axes_lin, "linear"), (axes_log, "log-log")):
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.set_title(scale, fontsize="medium")
        axes.grid(True, color="0.9")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.83, wspace=0.25)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _matplotlib_problem() -> str | None:
    """Why plots cannot be drawn, or None; a broken install must not cost any scores."""
    try:
        import matplotlib  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure just means "no plots"
        return f"matplotlib is not available ({type(exc).__name__})"
    return None


def _plots(reference: Reference, rocs: Sequence[metrics.Roc], enabled: bool) -> str:
    """Inline PNG plots, or a note saying why there are none."""
    if not enabled:
        return "<p>Plots were turned off for this run.</p>"
    problem = _matplotlib_problem()
    if problem:
        return f"<p>ROC plots are unavailable: {html.escape(problem)}.</p>"
    parts: list[str] = []
    for k, scenario in enumerate(reference.scenarios, 1):
        roc = rocs[k - 1]
        title = f"scenario {k}: {scenario.label} ({scenario.id})"
        try:
            png = base64.b64encode(_plot_png(roc, title)).decode("ascii")
        except Exception as exc:  # noqa: BLE001 - a plot failure must not fail the scoring
            parts.append(f"<p>ROC plot of scenario {k} failed ({type(exc).__name__}).</p>")
            continue
        parts.append(
            f'<figure><img alt="ROC curves of scenario {k}" src="data:image/png;base64,{png}">'
            f"<figcaption>{html.escape(title)}: linear and log-log ROC</figcaption></figure>"
        )
    return "\n".join(parts)


def detailed_html(
    reference: Reference,
    per_scenario: Sequence[dict[str, float]],
    rocs: Sequence[metrics.Roc],
    scores: dict[str, float],
    plots: bool = True,
) -> str:
    """A self-contained page: metric table, method notes, ROC plots (no external assets)."""
    title = html.escape(f"Detailed results: task {reference.task}, phase {reference.phase}")
    body = [
        f"<h1>{title}</h1>",
        f"<p>Ranking score <code>{RANKING_KEY}</code> = "
        f"<strong>{scores[RANKING_KEY]:.4f}</strong></p>",
        _table(reference, per_scenario),
        "<h2>How the scores are computed</h2>",
        _method_notes(),
        "<h2>ROC curves</h2>",
        _plots(reference, rocs, plots),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --- writing ---------------------------------------------------------------------------------


def remove_outputs(output_dir: str) -> None:
    """Delete scores files so that a failed run never looks like a successful one."""
    for name in OUTPUT_FILES:
        path = os.path.join(output_dir, name)
        if os.path.lexists(path):
            os.remove(path)


def write_outputs(output_dir: str, contents: dict[str, str]) -> None:
    """Write every file under a temporary name first, then rename them all into place."""
    if not os.path.isdir(output_dir):
        os.makedirs(output_dir)
    temporary: list[tuple[str, str]] = []
    try:
        for name, text in contents.items():
            path = os.path.join(output_dir, f".{name}.tmp{os.getpid()}")
            temporary.append((name, path))
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        for name, path in temporary:
            os.replace(path, os.path.join(output_dir, name))
    except BaseException:
        for _, path in temporary:
            if os.path.exists(path):
                os.remove(path)
        remove_outputs(output_dir)
        raise
