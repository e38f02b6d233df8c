"""What the store holds compared with what the preset defines: finished, missing, stale models."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from micokit.layout import PHASES

from .build.store import GenerationContext, ModelId, find_stale, is_finished, select_models
from .locks import claim_path, holder, is_claimed
from .spec.presets import Preset


def store_status(
    preset: Preset, store: Path, data_dir: Path | None = None, check_stale: bool = False
) -> str:
    """A table with one row per scenario: finished/expected per phase, and stale models if asked.

    Staleness is decided by :func:`generator.build.store.find_stale`, the same check ``generate``
    makes; it loads each dataset to fingerprint it, so it is opt-in.
    """
    stale: Counter = Counter()
    if check_stale:
        context = GenerationContext(
            str(preset.path), str(store), str(data_dir) if data_dir else None
        )
        stale = Counter((t.task, t.scenario) for t in find_stale(context, select_models(preset)))
    header = f"{'scenario':<24}" + "".join(f"{p:>10}" for p in PHASES)
    lines = [
        f"store {store} · preset {preset.name}",
        header + (f"{'stale':>8}" if check_stale else ""),
    ]
    total_done = total = 0
    training = [t for t in select_models(preset) if is_claimed(t.path(store))]
    for task in preset.tasks:
        for scenario in task.scenarios:
            row = f"{task.id + '/' + scenario.id:<24}"
            for phase in PHASES:
                expected = preset.models[phase]
                done = sum(
                    is_finished(ModelId(task.id, scenario.id, phase, i).path(store))
                    for i in range(expected)
                )
                total_done += done
                total += expected
                row += f"{f'{done}/{expected}':>10}"
            if check_stale:
                row += f"{stale[task.id, scenario.id]:>8}"
            lines.append(row)
    lines.append(f"{total_done}/{total} models finished")
    if training:  # claims of live runs (generator/locks.py)
        who = holder(claim_path(training[0].path(store)))
        lines.append(f"{len(training)} being trained now (first: {training[0]}, by {who})")
    return "\n".join(lines)
