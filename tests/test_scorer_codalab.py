"""The scoring program as the platforms run it, and what it may rely on there.

A CodaLab v1.5 worker copies the program to run/program, the reference data to run/input/ref
and the expanded submission to run/input/res, splits the metadata command on spaces,
substitutes $program, $input and $output, runs it from run/ without a shell, and reads
run/output/scores.txt line by line as ``label, value = line.split(":")``; ``float(value)``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest

try:  # tests/ is a package in this project; keep working if it stops being one
    from .test_scorer_support import (
        SCORING_DIR,
        ScorerCase,
        load_scorer,
        needs_organizer_python,
        subprocess_env,
    )
except ImportError:
    from test_scorer_support import (
        SCORING_DIR,
        ScorerCase,
        load_scorer,
        needs_organizer_python,
        subprocess_env,
    )

S = load_scorer()
# The platform image's python3 is this interpreter, plus any listed in SCORER_TEST_PYTHONS
# (e.g. a Python 3.7 with numpy 1.17, like CodaLab's codalab-legacy:py37 image).
INTERPRETERS = [sys.executable] + os.environ.get("SCORER_TEST_PYTHONS", "").split()
PROGRAM_FILES = [
    "metadata",
    "score.py",
    "scorer_disclosure.py",
    "scorer_inputs.py",
    "scorer_metrics.py",
    "scorer_report.py",
]


@pytest.fixture
def case(tmp_path):
    return ScorerCase(tmp_path)


def platform_command(program_dir):
    """The argv a worker builds from the metadata file (no shell, split on spaces)."""
    text = (program_dir / "metadata").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("command:")]
    return line.split(":", 1)[1].strip().split(" ")


def run_like_codalab(tmp_path, reference, submission_zip, python=sys.executable):
    run = tmp_path / "run"
    shutil.copytree(SCORING_DIR, run / "program", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(reference, run / "input" / "ref")
    res = run / "input" / "res"
    with zipfile.ZipFile(submission_zip) as archive:
        archive.extractall(res)
    (res / "metadata").write_text("description: written by the platform\n")
    (run / "output").mkdir()
    argv = []
    for arg in platform_command(run / "program"):
        arg = arg.replace("$program", str(run / "program"))
        arg = arg.replace("$input", str(run / "input")).replace("$output", str(run / "output"))
        argv.append(arg)
    assert argv[0] == "python3"
    argv[0] = python  # the platform's python3, with numpy
    proc = subprocess.run(
        argv, cwd=run, env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    return proc, run / "output"


def parse_like_codalab(path):
    scores = {}
    lines = path.read_text().splitlines()
    for line in lines:
        label, value = line.split(":")
        scores[label] = float(value)
    assert len(scores) == len(lines), "duplicate keys"
    return scores


def test_metadata_is_exactly_the_platform_command():
    assert (SCORING_DIR / "metadata").read_text() == (
        "command: python3 $program/score.py $input $output\n"
    )


def test_scoring_program_folder_holds_only_the_program():
    names = sorted(p.name for p in SCORING_DIR.iterdir() if p.name != "__pycache__")
    assert names == PROGRAM_FILES


@pytest.mark.parametrize("python", INTERPRETERS)
def test_codalab_worker_scores_a_submission(case, tmp_path, python):
    reference = case.write_reference()
    proc, output = run_like_codalab(tmp_path, reference, case.write_zip(case.files()), python)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "warning" not in proc.stderr
    scores = parse_like_codalab(output / "scores.txt")
    assert list(scores) == S.score_keys(3)
    assert all(math.isfinite(v) for v in scores.values())
    assert json.loads((output / "scores.json").read_text()) == scores
    expected = S.score_submission(str(case.write_zip(case.files(), "again.zip")), str(reference))
    assert scores == expected.scores

    page = (output / "detailed_results.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*(?!["']?data:)""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "<img" not in page and "data:" not in page and "<script" not in page.lower()
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)
    assert len(svgs) == 3 == page.count("<svg") == len(case.scenarios)
    for k, sid in enumerate(case.scenarios, 1):
        root = ET.fromstring(svgs[k - 1])  # well-formed on its own, as inline SVG must be
        texts = ["".join(node.itertext()) for node in root.iter("text")]
        assert f"scenario {k}: scenario {sid} ({sid})" in texts
        assert "linear" in texts and "log-log" in texts
    for sid in case.scenarios:
        assert sid in page
    assert "Clopper-Pearson" in page and "at most" in page
    for (sid, phase, model), _ in case.labels.items():
        assert case.solution_text(sid, phase, model).strip() not in page


def test_codalab_worker_rejects_a_bad_submission_cleanly(case, tmp_path):
    files = case.files()
    files[case.path("image_lo", "final", "model_1")] = b"0.5\n" * 3
    proc, output = run_like_codalab(tmp_path, case.write_reference(), case.write_zip(files))
    assert proc.returncode == 1
    assert proc.stderr == (
        "submission error: 'image/image_lo/final/model_1/prediction.csv': expected 20 values "
        "(one per challenge point), found 3\n"
    )
    # No scores; the page holds the same message (written in place, see
    # test_scorer_platform_output.py).
    assert proc.stdout == "" and [p.name for p in output.iterdir()] == ["detailed_results.html"]
    assert "found 3" in (output / "detailed_results.html").read_text(encoding="utf-8")


def test_codalab_worker_reports_broken_reference_data_as_the_organizers(case, tmp_path):
    reference = case.write_reference()
    (reference / "image/image_hi/dev/model_0/solution.csv").unlink()
    proc, output = run_like_codalab(tmp_path, reference, case.write_zip(case.files()))
    assert proc.returncode == 2
    assert proc.stderr.startswith("reference data error (organizer): ")
    assert "Traceback" not in proc.stderr
    assert [p.name for p in output.iterdir()] == ["detailed_results.html"]


def _local(args, cwd):
    return subprocess.run(
        [sys.executable, str(SCORING_DIR / "score.py"), *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_local_mode_scores_a_zip_from_any_folder(case, tmp_path):
    submission = case.write_zip(case.files())
    reference = case.write_reference()
    proc = _local(
        ["--submission", str(submission), "--reference", str(reference), "--output", "out"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("scored task image, phase dev (3 scenarios)\n")
    assert parse_like_codalab(tmp_path / "out" / "scores.txt") == (
        S.score_submission(str(submission), str(reference)).scores
    )


def test_local_mode_rejects_a_file_that_is_not_a_zip(case, tmp_path):
    fake = tmp_path / "submission.zip"
    fake.write_bytes(b"PK not really\n")
    proc = _local(["--submission", str(fake), "--reference", str(case.write_reference())], tmp_path)
    assert (proc.returncode, proc.stderr) == (
        1,
        "submission error: 'submission.zip' is not a zip file\n",
    )


def test_plots_need_no_plotting_library(case, tmp_path):
    """matplotlib (or any other plotting package) blocked: the SVG plots are drawn anyway."""
    runner = (
        "import runpy, sys\n"
        "for name in ('matplotlib', 'PIL', 'plotly', 'seaborn', 'bokeh'):\n"
        "    sys.modules[name] = None\n"
        "sys.argv = ['score.py'] + sys.argv[1:]\n"
        "try:\n"
        f"    runpy.run_path({str(SCORING_DIR / 'score.py')!r}, run_name='__main__')\n"
        "finally:\n"
        "    loaded = [n for n, m in sys.modules.items() if m is not None]\n"
        "    print('plotting modules:', sorted(n for n in loaded if n.startswith('matplotlib')))"
    )
    args = ["--submission", str(case.write_zip(case.files())), "--output", "out"]
    args += ["--reference", str(case.write_reference())]
    proc = subprocess.run(
        [sys.executable, "-c", runner, *args],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("plotting modules: []\n")
    page = (tmp_path / "out" / "detailed_results.html").read_text()
    assert 'title="scenario3_eps_lb"' in page and page.count("<svg") == 3
    assert "unavailable" not in page and "failed" not in page


def test_no_plots_skips_the_svg(case, tmp_path):
    args = ["--submission", str(case.write_zip(case.files())), "--output", "out", "--no-plots"]
    proc = _local([*args, "--reference", str(case.write_reference())], tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "out" / "detailed_results.html").read_text()
    assert "<svg" not in page and "Plots were turned off for this run." in page
    assert 'title="scenario3_eps_lb"' in page


# --- what the program may rely on: Python 3.7 syntax, numpy, the standard library ----------
#
# `make test` runs these tests twice: in the organizer's .venv (Python 3.11, newest numpy)
# and in .venv37, a real Python 3.7 with numpy 1.17 like CodaLab's codalab-legacy:py37 image
# (tests/requirements-py37.txt), which sets SCORER_EXPECT_PYTHON and SCORER_EXPECT_NUMPY.


def test_runs_on_the_python_and_numpy_it_was_asked_for():
    assert tuple(int(part) for part in np.__version__.split(".")[:2]) >= (1, 17)
    python = "{}.{}".format(*sys.version_info[:2])
    print(f"scorer tests on Python {python}, numpy {np.__version__}")
    assert python == os.environ.get("SCORER_EXPECT_PYTHON", python)
    assert np.__version__ == os.environ.get("SCORER_EXPECT_NUMPY", np.__version__)


@needs_organizer_python
def test_vermin_finds_nothing_newer_than_python_3_7():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vermin.main import main; sys.argv[0] = 'vermin'; sys.exit(main())",
            "-t=3.7-",
            "--violations",
            "--no-tips",
            str(SCORING_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Minimum required versions: 3.7" in proc.stdout


@pytest.mark.parametrize("name", [n for n in PROGRAM_FILES if n.endswith(".py")])
def test_program_parses_with_the_python_3_7_grammar(name):
    source = (SCORING_DIR / name).read_text()
    if sys.version_info[:2] == (3, 7):
        compile(source, name, "exec")  # the real 3.7 compiler
    else:
        ast.parse(source, feature_version=(3, 7))


def _is_standard_library(name):
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10 and newer
    if names is not None:
        return name in names
    # Older interpreters: built in, or found in this interpreter's own library (so a module
    # newer than it, such as tomllib on 3.7, is not), and not in a site-packages folder.
    if name in sys.builtin_module_names:
        return True
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return False
    origin = os.path.realpath(spec.origin)
    library = os.path.realpath(sysconfig.get_paths()["stdlib"])
    return origin.startswith(library + os.sep) and "site-packages" not in origin.split(os.sep)


@pytest.mark.parametrize("name", [n for n in PROGRAM_FILES if n.endswith(".py")])
def test_program_imports_only_the_standard_library_and_numpy(name):
    tree = ast.parse((SCORING_DIR / name).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    ours = {"numpy", "scorer_disclosure", "scorer_inputs", "scorer_metrics", "scorer_report"}
    others = {m for m in modules - ours if not _is_standard_library(m)}
    assert not others, others
