"""What the store holds compared with what the preset defines: finished, missing, stale models."""

from __future__ import annotations

import json
from pathlib import Path

from .datasets import dataset_fingerprint, load_dataset
from .presets import PHASES, Preset
from .store import ModelTask, config_key, is_finished


def store_status(
    preset: Preset, store: Path, data_dir: Path | None = None, check_stale: bool = False
) -> str:
    """A table with one row per scenario: finished/expected per phase, and stale models if asked.

    Checking staleness loads each dataset to fingerprint it, so it is opt-in.
    """
    lines = [f"store {store} · preset {preset.name}"]
    header = (
        f"{'scenario':<24}"
        + "".join(f"{p:>10}" for p in PHASES)
        + (f"{'stale':>8}" if check_stale else "")
    )
    lines.append(header)
    total_done = total = 0
    for task in preset.tasks:
        for scenario in task.scenarios:
            row = f"{task.id + '/' + scenario.id:<24}"
            stale = 0
            key = None
            if check_stale:
                data = load_dataset(scenario.dataset, data_dir, scenario.model)
                key = config_key(scenario, dataset_fingerprint(data))
            for phase in PHASES:
                expected = preset.models[phase]
                done = 0
                for i in range(expected):
                    path = ModelTask(task.id, scenario.id, phase, i).path(store)
                    if is_finished(path):
                        done += 1
                        if key is not None:
                            stored = json.loads((path / "private.json").read_text()).get(
                                "config_key"
                            )
                            stale += stored != key
                total_done += done
                total += expected
                row += f"{f'{done}/{expected}':>10}"
            if check_stale:
                row += f"{stale:>8}"
            lines.append(row)
    lines.append(f"{total_done}/{total} models finished")
    return "\n".join(lines)
