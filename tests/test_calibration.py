"""The organizer's calibration report: JSON keys scripts rely on, a self-contained HTML page,
the DP ceiling, and flags that fire on the situations they describe."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from generator.publish.calibration import (
    ATTACK_TITLES,
    _ordering_flags,
    _weak_signal_flags,
    build_report,
    dp_ceiling,
    report_flags,
    usefulness_flags,
)
from generator.spec.presets import ReportSpec

ATTACK_KEYS = ("tpr_at_fpr_0.1", "tpr_at_fpr_0.01", "tpr_at_fpr_0.001", "auc")


@pytest.fixture(scope="module")
def image_report(tiny_preset, tiny_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(tiny_preset, tiny_preset.task("image"), tiny_store, out)


def test_report_json_maps_each_scenario_to_its_figures(tiny_preset, image_report):
    html_path, json_path = image_report
    assert html_path.name == "image-report.html" and json_path.name == "image-report.json"
    figures = json.loads(json_path.read_text())
    spec = tiny_preset.task("image")
    assert list(figures) == [s.id for s in spec.scenarios]
    for scenario in spec.scenarios:
        entry = figures[scenario.id]
        assert entry["epsilon_target"] == scenario.epsilon
        if scenario.epsilon is None:
            assert entry["epsilon_achieved"] is None and entry["noise_multiplier"] is None
        else:
            assert 0 < entry["epsilon_achieved"] <= scenario.epsilon * 1.02
            assert entry["noise_multiplier"] > 0
        assert 0 <= entry["test_accuracy_mean"] <= 1 and entry["test_accuracy_sd"] >= 0
        low, high = entry["test_accuracy_interval"]
        assert low <= entry["test_accuracy_mean"] <= high
        best = max(entry[a]["tpr_at_fpr_0.1"] for a in ATTACK_TITLES)
        assert entry[entry["strongest_attack"]]["tpr_at_fpr_0.1"] == best
        for attack in ("loss", "lira", "lira_online", "rmia"):
            for key in ATTACK_KEYS:
                value = entry[attack][key]
                low, high = entry[attack]["intervals"][key]
                assert 0 <= low <= high <= 1 and 0 <= value <= 1
        assert entry["stale_train_models"] == 0 and isinstance(entry["flags"], list)


def test_report_html_is_self_contained(image_report):
    html_path, _ = image_report
    page = html_path.read_text()
    # utility against privacy, TPR per scenario, one ROC figure per scenario
    assert page.count("data:image/png;base64,") == 5
    assert "utility against privacy" in page and page.count("(strongest)") == 3
    assert not re.search(r"""(src|href)=['"](https?:|//)""", page)
    assert "DP ceiling" not in page or "image_hi" in page
    for scenario in ("image_inf", "image_hi", "image_lo"):
        assert scenario in page


def test_dp_ceiling_bounds():
    fpr = np.linspace(0, 1, 101)
    ceiling = dp_ceiling(fpr, 1.0, 1e-5)
    assert ceiling[0] == pytest.approx(1e-5) and ceiling[-1] == 1.0
    assert np.all(np.diff(ceiling) >= 0) and np.all(ceiling >= fpr - 1e-12)
    assert dp_ceiling(np.array([0.01]), 4.0, 0.0)[0] == pytest.approx(0.01 * math.e**4)
    assert np.allclose(dp_ceiling(fpr, 1e-9, 0.0), fpr, atol=1e-8)


def _entry(epsilon, dataset, tpr, auc):
    attack = {
        "tpr_at_fpr_0.1": tpr[0],
        "auc": auc[0],
        "intervals": {"tpr_at_fpr_0.1": list(tpr[1:]), "auc": list(auc[1:])},
    }
    entry = {"epsilon_target": epsilon, "dataset": dataset, "strongest_attack": "loss"}
    return entry | dict.fromkeys(ATTACK_TITLES, attack)


def test_ordering_flags_only_beyond_intervals_and_within_a_dataset():
    entries = {
        "inf": _entry(None, "d", (0.30, 0.25, 0.35), (0.70, 0.65, 0.75)),
        "hi": _entry(10.0, "d", (0.33, 0.28, 0.38), (0.69, 0.64, 0.74)),  # overlaps: fine
        "lo": _entry(4.0, "d", (0.60, 0.50, 0.70), (0.72, 0.70, 0.80)),  # TPR beyond: flag
        "other": _entry(1.0, "e", (0.90, 0.85, 0.95), (0.95, 0.90, 0.99)),  # other dataset
    }
    flags = _ordering_flags(entries)
    assert {sid for sid, _ in flags} == {"lo"}
    assert all("TPR@0.1" in text for _, text in flags)
    assert any("than inf" in text for _, text in flags) and any(
        "than hi" in text for _, text in flags
    )


def test_weak_signal_flags_need_a_strong_attack_at_inf_clear_of_the_lowest_epsilon():
    spec = ReportSpec(min_signal_tpr=0.3)
    clear = {
        "inf": _entry(None, "d", (0.45, 0.38, 0.52), (0.8, 0.7, 0.9)),
        "hi": _entry(10.0, "d", (0.30, 0.22, 0.37), (0.6, 0.5, 0.7)),  # may overlap inf
        "lo": _entry(4.0, "d", (0.15, 0.10, 0.20), (0.55, 0.5, 0.6)),
    }
    assert _weak_signal_flags(clear, spec) == []
    weak = clear | {"inf": _entry(None, "d", (0.28, 0.18, 0.36), (0.7, 0.6, 0.8))}
    ((sid, below), (_, overlap)) = _weak_signal_flags(weak, spec)
    assert sid == "inf" and "reaches TPR@0.1 = 0.280 at ε = ∞" in below
    assert "lower end 0.180) is not above lo's (ε = 4, upper end 0.200)" in overlap
    assert _weak_signal_flags(weak, ReportSpec(min_signal_tpr=0.0)) == []


def test_dp_models_more_accurate_than_inf_are_flagged():
    spec = ReportSpec()
    (flag,) = usefulness_flags("text_lo", _accuracy_entry(0.66, nondp=0.56, classes=2), spec)
    assert flag == (
        "text_lo: DP more accurate: mean test accuracy 0.660 is above the ε = ∞ models' 0.560, "
        "so ε = ∞ is not the unprotected end of the scale"
    )
    assert usefulness_flags("text_inf", _accuracy_entry(0.56, epsilon=None, classes=2), spec) == []


# --------------------------------------------------------------------------- one attack, one number


def test_report_figures_are_exactly_micokits(image_report, tiny_export):
    """Issue #12: the report and ``micokit attack`` once disagreed on the same train models
    (image LiRA TPR@0.1 0.6925 vs 0.7000): the report's shadows saw only the train challenge
    points. Both now take one path; the participant's archive gives the same numbers."""
    from micokit.attacks import run_attacks
    from micokit.loading import open_task
    from micokit.submission import load_scorer

    from generator.publish.columns import SCORING_DIR

    _, json_path = image_report
    figures = json.loads(json_path.read_text())
    scorer = load_scorer(SCORING_DIR)
    task = open_task(tiny_export[0], "image")
    results = run_attacks(task, ("loss", "lira", "rmia"), device="cpu", scorer=scorer)  # defaults
    online = run_attacks(task, ("lira",), online=True, device="cpu", scorer=scorer)
    results["lira_online"] = online["lira"]
    keys = {"tpr_at_fpr_0.1": "TPR_FPR_1000", "tpr_at_fpr_0.01": "TPR_FPR_100"}
    keys |= {"tpr_at_fpr_0.001": "TPR_FPR_10", "auc": "AUC", "eps_lb": "eps_lb"}
    for scenario in task.scenarios:
        for attack, result in results.items():
            kit = result.train_metrics[scenario.id]
            for ours, theirs in keys.items():
                assert figures[scenario.id][attack][ours] == kit[theirs], (scenario.id, attack)


# --------------------------------------------------------------------------- useless models


def _accuracy_entry(accuracy, epsilon=4.0, nondp=0.80, classes=10):
    return {
        "test_accuracy_mean": accuracy,
        "chance_accuracy": 1 / classes,
        "epsilon_target": epsilon,
        "nondp_accuracy_mean": nondp,
    }


def test_usefulness_flags_chance_level_far_below_nondp_and_fine():
    spec = ReportSpec(min_gain_over_chance=0.1, min_share_of_nondp_gain=0.5)
    # 10 classes: chance 0.1, at least 0.19 to be clearly above it.
    (flag,) = usefulness_flags("image_lo", _accuracy_entry(0.15), spec)
    assert flag.startswith("image_lo: useless models: mean test accuracy 0.150")
    assert "chance 0.100" in flag and "at least 0.190" in flag
    # Above chance, but keeps 20% of the ε = ∞ models' gain (0.8 - 0.1): at least 0.45 asked.
    (flag,) = usefulness_flags("image_lo", _accuracy_entry(0.24), spec)
    assert "far below the ε = ∞ models' 0.800, keeping 20.0% of their gain" in flag
    assert "at least 0.450" in flag
    assert usefulness_flags("image_lo", _accuracy_entry(0.46), spec) == []
    # ε = ∞ itself is only held to chance; without a reference, neither is a DP scenario.
    assert usefulness_flags("image_inf", _accuracy_entry(0.24, epsilon=None), spec) == []
    assert usefulness_flags("image_ddp", _accuracy_entry(0.24, nondp=None), spec) == []
    (flag,) = usefulness_flags("image_inf", _accuracy_entry(0.12, epsilon=None), spec)
    assert "not clearly above chance" in flag
    # Binary task: chance 0.5; 0 turns each check off.
    assert usefulness_flags("text_lo", _accuracy_entry(0.54, classes=2), spec)
    assert usefulness_flags("text_lo", _accuracy_entry(0.56, nondp=0.6, classes=2), spec) == []
    off = ReportSpec(0.0, 0.0)
    assert usefulness_flags("image_lo", _accuracy_entry(0.11), off) == []


def test_report_records_chance_and_the_nondp_reference(tiny_preset, image_report):
    _, json_path = image_report
    figures = json.loads(json_path.read_text())
    for entry in figures.values():
        assert entry["classes"] == 10 and entry["chance_accuracy"] == 0.1
        assert entry["nondp_accuracy_mean"] == pytest.approx(
            figures["image_inf"]["test_accuracy_mean"]
        )
    assert report_flags(json_path) == [f for e in figures.values() for f in e["flags"]]
