"""``micokit validate`` on the scorer fuzz's damaged and odd zips: never an internal error,
never a traceback, and always the scorer's own answer.

The cases are those of tests/test_scorer_fuzz.py (same seed), one in four of them, run
through micokit's command line in-process against a public task folder that describes the
same task. micokit validate loads the scorer and calls its ``validate_submission`` with the
public manifest standing in for the reference: the two must agree on every zip.
"""

from __future__ import annotations

import json

from micokit import cli

from .test_scorer_fuzz import S, all_cases, small_case

EXIT_INTERNAL = 3
SAMPLE_EVERY = 4


def public_task(case, root):
    """A public task folder (manifest only: validation needs no models) for ``case``."""
    folder = root / "data" / case.task
    folder.mkdir(parents=True)
    manifest = {
        "format": "mico-public/1",
        "task": case.task,
        "scenarios": [
            {
                "id": sid,
                "label": f"scenario {sid}",
                "epsilon": None,
                "delta": 1e-5,
                "dataset": "digits",
                "n": 100,
                "m": case.points // 2,
                "architecture": {"arch": "mlp"},
                "models": {phase: case.model_names(phase) for phase in case.models},
            }
            for sid in case.scenarios
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root / "data"


def scorer_says(path, manifest):
    try:
        S.validate_submission(str(path), str(manifest))
    except S.ScoringError:
        return 1
    return 0


def test_micokit_validate_never_fails_internally_and_agrees_with_the_scorer(tmp_path, capsys):
    case = small_case(tmp_path)
    data = public_task(case, tmp_path)
    manifest = tmp_path / "reference-manifest.json"
    manifest.write_text(json.dumps(case.manifest()), encoding="utf-8")
    path = tmp_path / "case.zip"
    internal, disagreements, seen = [], [], {0: 0, 1: 0}
    for index, (kind, blob) in enumerate(all_cases(case)):
        if index % SAMPLE_EVERY:
            continue
        path.write_bytes(blob)
        status = cli.main(["validate", str(path), "--data", str(data)])
        _, err = capsys.readouterr()
        if status == EXIT_INTERNAL or "Traceback" in err or "internal error" in err:
            internal.append(f"case {index} ({kind}): {err.strip()[:300]}")
        elif status != scorer_says(path, manifest):
            disagreements.append(f"case {index} ({kind}): micokit {status}: {err.strip()[:300]}")
        seen[status] = seen.get(status, 0) + 1
    assert not internal, f"{len(internal)} internal errors, e.g. {internal[:3]}"
    assert not disagreements, f"{len(disagreements)} disagreements, e.g. {disagreements[:3]}"
    assert seen[0] > 20 and seen[1] > 200, seen


def test_the_fuzz_baseline_passes_micokit_validate(tmp_path, capsys):
    case = small_case(tmp_path)
    data = public_task(case, tmp_path)
    path = tmp_path / "valid.zip"
    kind, blob = all_cases(case)[0]
    assert kind == "valid"
    path.write_bytes(blob)
    assert cli.main(["validate", str(path), "--data", str(data)]) == 0, capsys.readouterr().err
