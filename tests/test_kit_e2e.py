"""Acceptance: tiny competition → starting kit → every baseline → zip → validation → the real
scorer (run as a subprocess, as the platform runs it) gives exactly the scores the attack
computed for itself, on dev predictions against the reference and on held-out train models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from micokit.attacks import run_attacks, score_against_reference
from micokit.errors import ScorerNotFound, SubmissionInvalid
from micokit.loading import open_task
from micokit.submission import (
    find_scorer,
    load_scorer,
    pack,
    read_zip,
    validate,
    write_train_reference,
)

REPO = Path(__file__).resolve().parents[1]
SCORE_PY = REPO / "scoring_program" / "score.py"
ATTACKS = ("loss", "lira", "rmia")


def run_scorer(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCORE_PY), *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


def run_micokit(*args, cwd) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "micokit"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "micokit.cli"]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module", params=["image", "ddp"])
def kit_run(request, tiny_export, tmp_path_factory):
    """Every baseline on one tiny task through the library, packed for dev/final and train."""
    public, reference = tiny_export
    task_id = request.param
    work = tmp_path_factory.mktemp(f"kit-{task_id}")
    task = open_task(public, task_id)
    scorer = load_scorer(data_root=public)
    results = run_attacks(task, ATTACKS, device="cpu", scorer=scorer)
    zips = {}
    for attack, result in results.items():
        zips[attack] = pack(task, result.predictions, work / f"{attack}.zip")
        zips[attack + "-train"] = pack(
            task, result.predictions, work / f"{attack}-train.zip", ["train"]
        )
        assert validate(zips[attack], task, scorer) == []
    return task, reference / task_id, results, zips, scorer, work


@pytest.mark.parametrize("phase", ["dev", "final"])
def test_scorer_reproduces_the_attack_scores_on_dev_and_final(kit_run, phase):
    """Every score on final; on dev the ones its manifest's disclosure shows, rounded as the
    scorer rounds them (scoring_program/scorer_disclosure.py)."""
    task, reference, results, zips, scorer, work = kit_run
    shown = scorer.inputs.load_reference(str(reference / phase), with_solutions=False).disclosure
    assert (shown is None) == (phase == "final")
    for attack, result in results.items():
        full = score_against_reference(result, task, reference / phase, scorer)
        expected = scorer.disclosure.disclose(full, shown)
        out = work / f"{phase}-scores-{attack}"
        done = run_scorer(
            "--submission",
            zips[attack],
            "--reference",
            reference / phase,
            "--output",
            out,
            "--no-plots",
            cwd=work,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads((out / "scores.json").read_text()) == expected


def test_scorer_reproduces_the_attack_scores_on_held_out_train_models(kit_run):
    task, _, results, zips, _, work = kit_run
    train_reference = write_train_reference(task, work / "train-reference")
    for attack, result in results.items():
        out = work / f"train-scores-{attack}"
        done = run_scorer(
            "--submission",
            zips[attack + "-train"],
            "--reference",
            train_reference,
            "--output",
            out,
            "--no-plots",
            cwd=work,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads((out / "scores.json").read_text()) == result.train_scores


def test_final_phase_scores_in_platform_mode(kit_run, tmp_path):
    _, reference, _, zips, _, _ = kit_run
    shutil.copytree(reference / "final", tmp_path / "input" / "ref")
    with zipfile.ZipFile(zips["lira"]) as archive:
        archive.extractall(tmp_path / "input" / "res")
    (tmp_path / "output").mkdir()
    (tmp_path / "run").mkdir()
    done = run_scorer(tmp_path / "input", tmp_path / "output", cwd=tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "average_TPR_FPR_1000" in (tmp_path / "output" / "scores.txt").read_text()


def test_predictions_are_valid_scores_for_every_model(kit_run):
    task, _, results, zips, _, _ = kit_run
    packed = read_zip(zips["lira"])
    for scenario in task.scenarios:
        for phase in ("dev", "final"):
            for name in scenario.models[phase]:
                values = packed[scenario.id][phase][name]
                assert np.array_equal(values, results["lira"].predictions[scenario.id][phase][name])
                assert values.shape == (2 * scenario.m,) and ((values >= 0) & (values <= 1)).all()


def test_validation_messages_are_the_scorers(kit_run, tmp_path):
    task, reference, _, zips, scorer, _ = kit_run
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(zips["loss"]) as source, zipfile.ZipFile(broken, "w") as target:
        names = source.namelist()
        for name in names[1:]:  # drop one model, corrupt another
            data = b"0.5\nnan\n" if name == names[2] else source.read(name)
            target.writestr(name, data)
    with pytest.raises(SubmissionInvalid) as caught:
        validate(broken, task, scorer)
    platform = run_scorer("--submission", broken, "--reference", reference / "dev", cwd=tmp_path)
    assert platform.returncode == 1
    assert platform.stderr.strip() == str(caught.value)
    assert "missing" in str(caught.value) and "is NaN" in str(caught.value)


def test_pack_is_deterministic_and_checks_its_input(kit_run, tmp_path):
    task, _, results, zips, _, _ = kit_run
    again = pack(task, results["loss"].predictions, tmp_path / "again.zip")
    assert again.read_bytes() == zips["loss"].read_bytes()
    bad = {
        s: {p: dict(m) for p, m in tree.items()} for s, tree in results["loss"].predictions.items()
    }
    first = task.scenarios[0]
    bad[first.id]["dev"]["model_0"] = np.full(2 * first.m, 1.5)
    with pytest.raises(ValueError, match="must be finite and in \\[0, 1\\]"):
        pack(task, bad, tmp_path / "bad.zip")
    del bad[first.id]["dev"]["model_0"]
    with pytest.raises(ValueError, match="no predictions given"):
        pack(task, bad, tmp_path / "bad.zip")
    assert not (tmp_path / "bad.zip").exists()


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize("attack", [["loss"], ["rmia", "--population", "300"]])
def test_command_line_attack_validate_and_score_train(tiny_export, tmp_path, attack):
    public, reference = tiny_export
    sub, train = tmp_path / "sub.zip", tmp_path / "train.zip"
    done = run_micokit(
        "attack",
        *attack,
        "--data",
        public,
        "--task",
        "image",
        "--out",
        sub,
        "--train-out",
        train,
        "--reference",
        reference / "image" / "dev",
        "--json",
        tmp_path / "attack.json",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "held-out scores on train models" in done.stdout and "validation passed" in done.stdout
    assert (
        run_micokit("validate", sub, "--data", public, "--task", "image", cwd=tmp_path).returncode
        == 0
    )
    scored = run_micokit(
        "score-train",
        train,
        "--data",
        public,
        "--task",
        "image",
        "--json",
        tmp_path / "train.json",
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr
    claimed = json.loads((tmp_path / "attack.json").read_text())
    assert json.loads((tmp_path / "train.json").read_text()) == claimed["train_scores"]


@pytest.mark.parametrize(
    "args,status,message",
    [
        (
            ["attack", "loss", "--data", "{tmp}/nowhere", "--out", "{tmp}/s.zip"],
            2,
            "error: {tmp}/nowhere: no such directory",
        ),
        (
            ["attack", "lira", "--data", "{tmp}/data.zip", "--out", "{tmp}/s.zip"],
            2,
            "is a zip file; unzip it first",
        ),
        (
            ["validate", "{tmp}/notes.txt", "--data", "{public}", "--task", "image"],
            1,
            "'notes.txt' is not a zip file",
        ),
        (
            ["validate", "{tmp}/absent.zip", "--data", "{public}", "--task", "image"],
            1,
            "no submission found",
        ),
        (
            ["validate", "{tmp}/notes.txt", "--data", "{public}", "--task", "video"],
            2,
            "manifest.json: not found",
        ),
        (
            [
                "validate",
                "{tmp}/notes.txt",
                "--data",
                "{public}",
                "--task",
                "image",
                "--scorer",
                "{tmp}",
            ],
            2,
            "no scoring program there",
        ),
        (
            [
                "attack",
                "loss",
                "--data",
                "{public}",
                "--task",
                "image",
                "--dataset",
                "a=b",
                "--dataset",
                "c",
                "--out",
                "{tmp}/s.zip",
            ],
            2,
            "expected NAME=PATH",
        ),
        (["info", "--data", "{public}", "--task", "image"], 0, ""),
    ],
)
def test_command_line_errors_are_one_line(tiny_export, tmp_path, capsys, args, status, message):
    """main() as the entry point calls it: one line on stderr and an exit status, no traceback."""
    from micokit.cli import main

    public, _ = tiny_export
    (tmp_path / "notes.txt").write_text("not a zip\n")
    (tmp_path / "data.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    fill = {"tmp": str(tmp_path), "public": str(public)}
    assert main([a.format(**fill) for a in args]) == status
    err = capsys.readouterr().err
    if status:
        assert len(err.strip().splitlines()) == 1
        assert message.format(**fill) in err


def test_readme_walkthrough_snippet_runs(tiny_export, tmp_path, monkeypatch):
    """The 'Your own attack' code of starting_kit/README.md, run as written on a tiny task."""
    public, _ = tiny_export
    readme = (REPO / "starting_kit" / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    assert len(blocks) == 1 and "pack(" in blocks[0]
    monkeypatch.chdir(public)
    code = blocks[0].replace('"submission.zip"', repr(str(tmp_path / "submission.zip")))
    exec(compile(code, "README.md", "exec"), {})
    assert zipfile.is_zipfile(tmp_path / "submission.zip")


def test_scorer_is_found_beside_the_task_folder_first(tmp_path):
    """The participant archive ships scoring_program/ next to <task>/; it wins over the repo's."""
    shipped = tmp_path / "scoring_program"
    shutil.copytree(REPO / "scoring_program", shipped, ignore=shutil.ignore_patterns("__pycache__"))
    assert find_scorer(tmp_path) == (shipped / "score.py").resolve()
    assert find_scorer(tmp_path / "image") == (shipped / "score.py").resolve()
    assert find_scorer(tmp_path / "elsewhere" / "deeper") == SCORE_PY.resolve()  # checkout
    assert find_scorer(None, shipped) == (shipped / "score.py").resolve()
    with pytest.raises(ScorerNotFound, match="no scoring program there"):
        find_scorer(tmp_path, tmp_path / "missing")
