"""Platform mode writes detailed_results.html in place, on success and on failure.

CodaLab's v1 worker (competitions-v1-compute-worker worker.py ``run``) creates
``output/detailed_results.html`` before the scoring program starts, uploads that very file
through an ``entr`` watcher, and opens it again at the end. The program must overwrite the
worker's file (same inode), never delete it, and leave the reason for a failure in it.
Local mode keeps its atomic writes. (Python 3.7 syntax: these run on the py37 image too.)
"""

from __future__ import annotations

import os

import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import ScorerCase, load_scorer
except ImportError:
    from test_scorer_support import ScorerCase, load_scorer

S = load_scorer()
PAGE = "detailed_results.html"


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


def _platform_run(case, files, capsys, stale=False):
    """INPUT/ref, INPUT/res and a worker-made, empty OUTPUT/detailed_results.html."""
    run = case.root / "run"
    case.write_reference(name="run/input/ref")
    case.write_dir(files, name="run/input/res")
    output = run / "output"
    output.mkdir()
    if stale:  # scores left over from an earlier run must not survive a failure
        (output / "scores.txt").write_text("stale: 1.0\n")
    (output / PAGE).touch()
    inode = (output / PAGE).stat().st_ino
    status = S.main([str(run / "input"), str(output)])
    _, err = capsys.readouterr()
    return status, err, output, inode


def test_success_overwrites_the_workers_file(case, capsys):
    status, err, output, inode = _platform_run(case, case.files(), capsys)
    assert status == 0, err
    assert (output / PAGE).stat().st_ino == inode
    page = (output / PAGE).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "Detailed results" in page
    assert sorted(os.listdir(output)) == [PAGE, "scores.json", "scores.txt"]


def test_failure_leaves_the_message_in_the_workers_file_and_no_scores(case, capsys):
    files = case.files()
    files[case.path("image_lo", "final", "model_1")] = b"0.5\n" * 3
    status, err, output, inode = _platform_run(case, files, capsys, stale=True)
    assert status == 1 and err.startswith("submission error: ")
    assert os.listdir(output) == [PAGE]
    assert (output / PAGE).stat().st_ino == inode
    page = (output / PAGE).read_text(encoding="utf-8")
    assert "Scoring failed" in page and "expected 20 values" in page
    for (sid, phase, model), _ in case.labels.items():
        assert case.solution_text(sid, phase, model).strip() not in page


def test_a_page_missing_at_start_is_created(case, capsys):
    run = case.root / "run"
    case.write_reference(name="run/input/ref")
    case.write_dir(case.files(), name="run/input/res")
    (run / "output").mkdir()
    assert S.main([str(run / "input"), str(run / "output")]) == 0
    capsys.readouterr()
    assert (run / "output" / PAGE).stat().st_size > 0


def test_local_mode_failure_removes_every_output(case, capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / PAGE).write_text("old page")
    files = case.files()
    files[case.path("image_inf", "dev", "model_0")] = b"oops\n"
    reference = case.write_reference()
    status = S.main(
        [
            "--submission",
            str(case.write_zip(files)),
            "--reference",
            str(reference),
            "--output",
            str(out),
        ]
    )
    capsys.readouterr()
    assert status == 1 and os.listdir(out) == []
