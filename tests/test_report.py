"""The organizer's calibration report: JSON keys scripts rely on, a self-contained HTML page,
the DP ceiling, and flags that fire on the situations they describe."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from generator.report import _ordering_flags, build_report, dp_ceiling

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
        for attack in ("loss", "lira", "lira_online"):
            for key in ATTACK_KEYS:
                value = entry[attack][key]
                low, high = entry[attack]["intervals"][key]
                assert 0 <= low <= high <= 1 and 0 <= value <= 1
        assert entry["stale_train_models"] == 0 and isinstance(entry["flags"], list)


def test_report_html_is_self_contained(image_report):
    html_path, _ = image_report
    page = html_path.read_text()
    assert page.count("data:image/png;base64,") == 4  # summary + one ROC figure per scenario
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
    attack = {"tpr_at_fpr_0.1": tpr[0], "auc": auc[0],
              "intervals": {"tpr_at_fpr_0.1": list(tpr[1:]), "auc": list(auc[1:])}}  # fmt: skip
    return {"epsilon_target": epsilon, "dataset": dataset, "loss": attack, "lira": attack,
            "lira_online": attack}  # fmt: skip


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
