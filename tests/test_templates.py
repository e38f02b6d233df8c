"""Platform templates: the final phase scores migrated submissions and takes no new queries."""

from __future__ import annotations

import yaml

from .conftest import ROOT


def test_codalab_final_phase_migrates_and_allows_at_most_one_new_submission():
    phases = yaml.safe_load((ROOT / "competition.yaml").read_text(encoding="utf-8"))["phases"]
    final = phases[max(phases)]
    assert final["label"] == "Final" and final["auto_migration"] is True
    # Each submission scored on final labels reveals aggregates of them.
    assert final["max_submissions"] <= 1 and final["max_submissions_per_day"] <= 1


def test_codabench_final_phase_migrates_hides_logs_and_allows_at_most_one_new_submission():
    bundle = yaml.safe_load((ROOT / "codabench.yaml").read_text(encoding="utf-8"))
    final = max(bundle["phases"], key=lambda phase: phase["index"])
    assert final["name"] == "Final" and final["auto_migrate_to_this_phase"] is True
    assert final["max_submissions"] <= 1 and final["max_submissions_per_day"] <= 1
    assert final["hide_output"] is True
