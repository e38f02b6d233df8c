"""What the scorer writes: scores.txt, scores.json and detailed_results.html.

``score_keys`` is the single definition of the score keys: the writer below iterates over it,
and the bundle builder renders competition.yaml's leaderboard columns from it, so the two can
never drift apart. Only aggregate numbers are written; the ROC plots are sampled on fixed FPR
grids (see ``scorer_metrics.roc_plot_points``) instead of drawing the per-point staircase, and
drawn as inline SVG built here (numpy and string formatting; no plotting library).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import scorer_metrics as metrics
from scorer_disclosure import RANKING_KEY, RANKING_METRIC
from scorer_inputs import Reference

DETAILED_RESULTS = "detailed_results.html"
SCORES_FILES = ("scores.txt", "scores.json")
OUTPUT_FILES = SCORES_FILES + (DETAILED_RESULTS,)


def score_keys(num_scenarios: int) -> list[str]:
    """Every key written to scores.txt / scores.json, in order; k follows the manifest order."""
    keys = [
        f"scenario{k}_{name}" for k in range(1, num_scenarios + 1) for name in metrics.METRIC_NAMES
    ]
    keys.append(RANKING_KEY)
    return keys


def build_scores(per_scenario: Sequence[dict[str, float]]) -> dict[str, float]:
    """Flat scores in ``score_keys`` order; the ranking is the mean TPR@0.1 over scenarios."""
    ranking_name = RANKING_METRIC
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
code { font-size: 0.9em; }
figure { margin: 1em 0; } svg.roc { max-width: 100%; height: auto; }
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
            "phase. The ROC plots show TPR@FPR on coarse fixed FPR grids (consecutive FPRs at "
            f"least {metrics.PLOT_MIN_NEGATIVES} non-members apart), not the per-point "
            "staircase, so that they cannot reveal the label of single points."
        ),
    ]
    return "<ul>\n" + "\n".join(f"<li>{note}</li>" for note in notes) + "\n</ul>"


# --- ROC charts as inline SVG ------------------------------------------------------------------
# Hand-built SVG (string formatting plus numpy), so that drawing costs milliseconds and the
# scorer imports nothing beyond numpy. The SVG sits inside the HTML: no xmlns (the HTML parser
# puts <svg> in the SVG namespace), no ids, links, scripts or external assets, and every text
# is escaped, so each <svg> element is also well-formed XML.

_CHART = 262.0  # side of the square plot area, in SVG user units
_LEFT, _RIGHT, _TOP, _BOTTOM = 58.0, 20.0, 58.0, 46.0  # margins around one plot area
_PANEL_W = _LEFT + _CHART + _RIGHT
_SVG_W, _SVG_H = 2 * _PANEL_W, _TOP + _CHART + _BOTTOM
_CURVE, _CHANCE, _GRID, _AXIS, _MARK = "#1f77b4", "#999", "#e6e6e6", "#444", "#d62728"
_DASHED = 'stroke-dasharray="5,4"'
_HALO = 'stroke="white" stroke-width="3" paint-order="stroke"'


def _num(value: float) -> str:
    """A coordinate with two decimals and no trailing zeros (short and exact enough)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(x: float, y: float, text: str, attrs: str = "") -> str:
    extra = f" {attrs}" if attrs else ""
    return f'<text x="{_num(x)}" y="{_num(y)}"{extra}>{html.escape(text)}</text>'


def _marker(x: float, y: float, caption: str) -> str:
    return (
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4.5" fill="{_MARK}">'
        f"<title>{html.escape(caption)}</title></circle>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, attrs: str) -> str:
    return f'<line x1="{_num(x1)}" y1="{_num(y1)}" x2="{_num(x2)}" y2="{_num(y2)}" {attrs}/>'


class _Axes:
    """Maps data to SVG coordinates for one square plot area, linear or log10 on both axes."""

    def __init__(self, left: float, low: float, log: bool) -> None:
        self.left, self.log = left, log
        self.high = 0.0 if log else 1.0
        # With at most PLOT_MIN_NEGATIVES non-members the log grid is the single FPR 1: keep
        # one decade of axis, or every coordinate would be 0/0 (NaN in the SVG).
        self.low = min(math.log10(low), self.high - 1.0) if log else low

    def _unit(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        if self.log:
            with np.errstate(divide="ignore"):
                values = np.log10(values)
        return (values - self.low) / (self.high - self.low)

    def xs(self, values: np.ndarray) -> np.ndarray:
        return self.left + _CHART * self._unit(values)

    def ys(self, values: np.ndarray) -> np.ndarray:
        return _TOP + _CHART * (1.0 - self._unit(values))

    def x(self, value: float) -> float:
        return float(self.xs(np.array([value]))[0])

    def y(self, value: float) -> float:
        return float(self.ys(np.array([value]))[0])


def _curve_points(axes: _Axes, fpr: np.ndarray, tpr: np.ndarray) -> str:
    """The sampled curve as polyline points, clipped at the bottom edge of a log chart.

    TPR never decreases along the FPR grid, so the samples below the chart (TPR under the
    floor, or 0) are a prefix: they are dropped, and the segment that enters the chart from
    below starts where it crosses the bottom edge (interpolated in log-log space, like the
    line itself).
    """
    xs = axes.xs(fpr)
    if axes.log:
        # TPR = 0 is log10 = -inf; two decades under the floor has the same visible effect.
        floor = 10.0**axes.low
        ys = axes.ys(np.maximum(tpr, floor / 100.0))
        inside = np.flatnonzero(tpr >= floor)
        if inside.size == 0:
            return ""
        first = int(inside[0])
        bottom = _TOP + _CHART
        if first > 0 and ys[first] < bottom:
            x0, y0, x1, y1 = xs[first - 1], ys[first - 1], xs[first], ys[first]
            cut = x0 + (x1 - x0) * (bottom - y0) / (y1 - y0)
            xs = np.concatenate(([cut], xs[first:]))
            ys = np.concatenate(([bottom], ys[first:]))
        else:
            xs, ys = xs[first:], ys[first:]
    else:
        ys = axes.ys(tpr)
    pairs = np.column_stack((xs, ys)).tolist()
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in pairs)


def _panel(
    axes: _Axes,
    fpr: np.ndarray,
    tpr: np.ndarray,
    ticks: Sequence[float],
    subtitle: str,
    marked: float,
) -> list[str]:
    """One chart: grid, ticks, chance line, the sampled ROC, the TPR@0.1 marker, labels."""
    left, bottom = axes.left, _TOP + _CHART
    low = 10.0**axes.low if axes.log else 0.0
    parts = [
        _text(left + _CHART / 2, _TOP - 10, subtitle, 'text-anchor="middle" font-weight="bold"')
    ]
    for tick in ticks:
        x, y = axes.x(tick), axes.y(tick)
        label = f"{tick:g}"
        parts.append(_line(x, _TOP, x, bottom, f'stroke="{_GRID}"'))
        parts.append(_line(left, y, left + _CHART, y, f'stroke="{_GRID}"'))
        parts.append(_line(x, bottom, x, bottom + 5, f'stroke="{_AXIS}"'))
        parts.append(_line(left - 5, y, left, y, f'stroke="{_AXIS}"'))
        parts.append(_text(x, bottom + 18, label, 'text-anchor="middle"'))
        parts.append(_text(left - 8, y + 4, label, 'text-anchor="end"'))
    parts.append(
        f'<rect x="{_num(left)}" y="{_num(_TOP)}" width="{_num(_CHART)}" '
        f'height="{_num(_CHART)}" fill="none" stroke="{_AXIS}"/>'
    )
    parts.append(
        _line(
            axes.x(low),
            axes.y(low),
            axes.x(1.0),
            axes.y(1.0),
            f'stroke="{_CHANCE}" {_DASHED}',
        )
    )
    points = _curve_points(axes, fpr, tpr)
    if points:
        parts.append(
            f'<polyline fill="none" stroke="{_CURVE}" stroke-width="2" '
            f'stroke-linejoin="round" points="{points}"/>'
        )
    alpha = metrics.RANKING_ALPHA
    x_mark = axes.x(alpha)
    parts.append(_line(x_mark, _TOP, x_mark, bottom, f'stroke="{_MARK}" stroke-dasharray="2,3"'))
    caption = f"TPR@{alpha:g} = {marked:.4f}"
    if marked >= low:
        parts.append(_marker(x_mark, axes.y(marked), caption))
    # The key sits in the bottom right corner, under the chance line, where a curve only goes
    # for an attack worse than chance; a white halo keeps it readable even then.
    kx, ky = left + _CHART - 140, bottom - 44
    parts.append(_line(kx, ky, kx + 20, ky, f'stroke="{_CURVE}" stroke-width="2"'))
    parts.append(_text(kx + 26, ky + 4, "attack", _HALO))
    parts.append(_line(kx, ky + 15, kx + 20, ky + 15, f'stroke="{_CHANCE}" {_DASHED}'))
    parts.append(_text(kx + 26, ky + 19, "chance", _HALO))
    parts.append(_marker(kx + 10, ky + 30, caption))
    parts.append(_text(kx + 26, ky + 34, caption, f'fill="{_MARK}" {_HALO}'))
    parts.append(
        _text(left + _CHART / 2, bottom + 36, "false positive rate", 'text-anchor="middle"')
    )
    y_mid = _TOP + _CHART / 2
    parts.append(
        _text(
            left - 42,
            y_mid,
            "true positive rate",
            f'text-anchor="middle" transform="rotate(-90 {_num(left - 42)} {_num(y_mid)})"',
        )
    )
    return parts


def roc_svg(roc: metrics.Roc, title: str, tpr_marked: float) -> str:
    """Linear and log-log ROC charts of one scenario as one inline <svg> element.

    The curve is ``roc_plot_points``: TPR@FPR on fixed FPR grids, never the staircase.
    ``tpr_marked`` is the reported TPR@RANKING_ALPHA, drawn as a marker on both charts.
    """
    lin_x, lin_y, log_x, log_y = metrics.roc_plot_points(roc)
    floor = float(log_x[0])
    decades = [10.0**e for e in range(math.ceil(math.log10(floor) - 1e-9), 1)]
    linear = _Axes(_LEFT, 0.0, log=False)
    loglog = _Axes(_PANEL_W + _LEFT, floor, log=True)
    parts = [
        f'<svg class="roc" width="{_num(_SVG_W)}" height="{_num(_SVG_H)}" '
        f'viewBox="0 0 {_num(_SVG_W)} {_num(_SVG_H)}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="12">',
        f"<title>{html.escape(title)}</title>",
        f'<rect width="{_num(_SVG_W)}" height="{_num(_SVG_H)}" fill="white"/>',
        _text(_SVG_W / 2, 22, title, 'text-anchor="middle" font-size="15"'),
    ]
    parts += _panel(linear, lin_x, lin_y, [i / 5.0 for i in range(6)], "linear", tpr_marked)
    parts += _panel(loglog, log_x, log_y, decades, "log-log", tpr_marked)
    parts.append("</svg>")
    return "\n".join(parts)


def _plots(
    reference: Reference,
    per_scenario: Sequence[dict[str, float]],
    rocs: Sequence[metrics.Roc],
    enabled: bool,
) -> str:
    """One inline SVG per scenario, or a note saying that plots were turned off."""
    if not enabled:
        return "<p>Plots were turned off for this run.</p>"
    marked_key = RANKING_METRIC
    parts: list[str] = []
    for k, scenario in enumerate(reference.scenarios, 1):
        title = f"scenario {k}: {scenario.label} ({scenario.id})"
        try:
            chart = roc_svg(rocs[k - 1], title, per_scenario[k - 1][marked_key])
        except Exception as exc:  # noqa: BLE001 - a plot failure must not fail the scoring
            parts.append(f"<p>ROC plot of scenario {k} failed ({type(exc).__name__}).</p>")
            continue
        parts.append(
            f"<figure>\n{chart}\n<figcaption>{html.escape(title)}: linear and log-log ROC, "
            f"TPR@{metrics.RANKING_ALPHA:g} marked</figcaption></figure>"
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
        _plots(reference, per_scenario, rocs, plots),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


# --- writing ---------------------------------------------------------------------------------


def error_html(message: str) -> str:
    """The detailed-results page of a failed run: the scorer's own message, nothing else.

    The message is what stderr already shows the participant (it names files and problems,
    never a label), so the page reveals nothing new; it replaces an empty page, or, on CodaLab,
    the worker's own traceback.
    """
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Scoring failed</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        "<h1>Scoring failed</h1>\n"
        f"<pre>{html.escape(message)}</pre>\n</body>\n</html>\n"
    )


def remove_outputs(output_dir: str, names: Sequence[str] = OUTPUT_FILES) -> None:
    """Delete scores files so that a failed run never looks like a successful one."""
    for name in names:
        path = os.path.join(output_dir, name)
        if os.path.lexists(path):
            os.remove(path)


def write_in_place(path: str, text: str) -> None:
    """Overwrite ``path`` through its existing inode (truncate, then write), never by rename.

    CodaLab's v1 worker (competitions-v1-compute-worker, worker.py ``run``) creates
    ``output/detailed_results.html`` before the scoring program starts, watches that very file
    with ``entr`` to upload it, and after the container exits uploads it again only if it is
    still empty. A file deleted and renamed into place is a new inode the watcher never sees,
    so the page was lost in most runs; and a deleted file makes the worker raise at the end.
    """
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def write_outputs(output_dir: str, contents: dict[str, str], in_place: Sequence[str] = ()) -> None:
    """Write every file under a temporary name first, then rename them all into place.

    Files named in ``in_place`` are written through :func:`write_in_place` instead, after the
    renamed ones (platform mode passes ``detailed_results.html``). If anything fails, no scores
    file is left behind.
    """
    if not os.path.isdir(output_dir):
        os.makedirs(output_dir)
    temporary: list[tuple[str, str]] = []
    try:
        for name, text in contents.items():
            if name in in_place:
                continue
            path = os.path.join(output_dir, f".{name}.tmp{os.getpid()}")
            temporary.append((name, path))
            with open(path, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        for name, path in temporary:
            os.replace(path, os.path.join(output_dir, name))
        for name in in_place:
            write_in_place(os.path.join(output_dir, name), contents[name])
    except BaseException:
        for _, path in temporary:
            if os.path.exists(path):
                os.remove(path)
        remove_outputs(output_dir, [n for n in OUTPUT_FILES if n not in in_place])
        raise
