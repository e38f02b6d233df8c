"""Open every bundle the way its platform does, then score test submissions through it.

The platform rules (dates, keys, lengths, phase ordering, leaderboard behaviour, migration and
visibility flags) live in ``generator.conformance``, each citing the platform code it follows;
this module opens the zips, runs those rules on each competition.yaml, and emulates the workers.
CodaLab v1.5: the first ``*.yaml`` entry is the competition (and must be the only one), the four
html pages exist, phases point at inner zips that exist and hold their folder's *contents*, the
scoring program's ``metadata`` has the command.
Codabench v2: tasks and phases reference existing folders, a pinned image.
Both: the reference data is for the task the file name says; a perfect, a random, a malformed
and a nested-zip submission are scored by the bundled program laid out and run as each
platform's worker does (see ``_platform_score``); scores.txt and scores.json hold exactly the
keys the phase shows (every column on Final; on Development the preset's disclosure, rounded,
with nothing more in the log or the detailed page: ``conformance.scored_output_rules``);
detailed_results.html must survive the worker's handling.
Participant archives: for the task their name says, and no ground truth inside.
A bundle that cannot be read at all (truncated, not a zip, a damaged entry, a YAML that does not
parse) is one line naming it; the other bundles are still checked.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .bundle import ground_truth_leaks, sample_submission
from .conformance import (
    codabench_rules,
    codalab_rules,
    reference_disclosure_rules,
    scored_output_rules,
)
from .presets import Preset, TaskSpec
from .zips import zip_bytes

CODALAB_PAGES = ("overview", "evaluation", "terms", "data")
CODALAB_COMMAND = "python3 $program/score.py $input $output"
DETAILED = "detailed_results.html"
PHASE_FILE_KEYS = ("scoring_program", "reference_data", "starting_kit", "public_data", "input_data")
SCORE_TIMEOUT = 300
STDERR_SHOWN = 240
# What a damaged or hand-edited bundle raises while being read; each becomes one line.
UNREADABLE = (
    zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, yaml.YAMLError, KeyError,
    ValueError, TypeError, AttributeError,
)  # fmt: skip
Check = Callable[[Preset, TaskSpec, Path], list[str]]


def _unpinned(image: str | None) -> bool:
    return not image or ":" not in image or image.endswith(":latest")


@dataclass(frozen=True)
class Run:
    """What one emulated worker run left: exit status, stderr, scores, detailed-results verdict,
    and what the submitter reads besides the scores (the log and the detailed page)."""

    status: int
    stderr: str
    txt: dict
    js: dict
    detailed: str | None  # None when the page is as the platform needs it
    stdout: str = ""
    page: str = ""


def _lay_out_submission(res: Path, submission: dict[str, bytes], platform: str) -> None:
    """Write the submission into input/res the way each worker expands the zip.

    CodaLab (competitions-v1-compute-worker worker.py ``get_bundle``) also extracts every zip
    at the top of the expanded submission into a folder named after it, keeping the zip.
    Codabench (compute_worker/compute_worker.py ``_get_bundle``) extracts once; its prediction
    run then writes ``metadata`` beside the submission's files (``push_output``).
    """
    res.mkdir(parents=True)
    for name, data in submission.items():
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        (res / name).write_bytes(data)
    if platform == "codalab":
        for inner in sorted(res.glob("*.zip")):
            try:
                with zipfile.ZipFile(inner) as archive:
                    archive.extractall(inner.with_suffix(""))
            except zipfile.BadZipFile:
                continue
    else:
        (res / "metadata").write_text("exitCode: 0\nelapsedTime: 0.1\n")


def _detailed_verdict(output: Path, platform: str, watched: int | None, status: int) -> str | None:
    """CodaLab's worker pre-creates detailed_results.html, uploads it through an entr watcher on
    that file, and at the end opens it again (an IOError there fails the submission); Codabench's
    watcher uploads ``output/detailed_results.html`` whenever it changes (watch_detailed_results).

    ``watched`` is a descriptor held open on CodaLab's pre-created file, as the watcher holds
    it: if the program unlinked that file, its link count is 0 whatever now has the name
    (inode numbers are reused, so comparing them is not enough).
    """
    page = output / DETAILED
    if watched is not None and os.fstat(watched).st_nlink == 0:
        if not page.is_file():
            return "deletes detailed_results.html, which CodaLab's worker then fails to open"
        return (
            "replaces detailed_results.html by a new file; CodaLab's watcher only sees the file "
            "it created, so the page is lost"
        )
    if not page.is_file():
        return None if status else "writes no detailed_results.html"
    if page.stat().st_size == 0:
        return "leaves detailed_results.html empty"
    return None


def _platform_score(
    program: Path, reference: Path, submission: dict[str, bytes], command: str, platform: str
) -> Run:
    """Run the scoring program as the platform's worker: own cwd, command split on spaces, no
    shell (worker.py ``run``: ``prog_cmd.split(' ')``; Codabench substitutes the same way)."""
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        shutil.copytree(program, run / "program")
        shutil.copytree(reference, run / "input" / "ref")
        _lay_out_submission(run / "input" / "res", submission, platform)
        (run / "output").mkdir()
        watched = None
        if platform == "codalab":  # worker.py: open(default_detailed_result_path, 'a').close()
            (run / "output" / DETAILED).touch()
            watched = os.open(run / "output" / DETAILED, os.O_RDONLY)
        try:  # the watched descriptor is closed however the run ends
            return _run_program(run, command, platform, watched)
        finally:
            if watched is not None:
                os.close(watched)


def _run_program(run: Path, command: str, platform: str, watched: int | None) -> Run:
    """Run the scoring program as the platform's worker does in ``run`` and read its output."""
    values = {
        "$program": run / "program",
        "$input": run / "input",
        "$output": run / "output",
    }
    argv = command.split(" ")
    for placeholder, path in values.items():
        argv = [part.replace(placeholder, str(path)) for part in argv]
    argv[0] = sys.executable if argv[0] in ("python", "python3") else argv[0]
    try:
        done = subprocess.run(argv, cwd=run, capture_output=True, text=True, timeout=SCORE_TIMEOUT)
    except subprocess.TimeoutExpired:
        message = f"the scoring program ran longer than {SCORE_TIMEOUT} s"
        return Run(124, message, {}, {}, None)
    scores_txt, scores_json = {}, {}
    if (run / "output" / "scores.txt").is_file():
        for line in (run / "output" / "scores.txt").read_text().splitlines():
            try:
                label, value = line.split(":")  # exactly what CodaLab v1.5 does
                scores_txt[label] = float(value)
            except ValueError:
                raise ValueError(f"scores.txt line {line!r} is not 'key: number'") from None
    if (run / "output" / "scores.json").is_file():
        scores_json = json.loads((run / "output" / "scores.json").read_text())
    detailed = _detailed_verdict(run / "output", platform, watched, done.returncode)
    page_path = run / "output" / DETAILED
    page = page_path.read_text(errors="replace") if page_path.is_file() else ""
    return Run(done.returncode, done.stderr, scores_txt, scores_json, detailed, done.stdout, page)


def first_error(stderr: str, limit: int = STDERR_SHOWN) -> str:
    """The scorer's own words in one line: what a reader needs, not a tail cut mid-word.

    A traceback ends with the exception; otherwise the first line that is not a warning says
    what failed, and a list of problems below it is represented by its first item.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no message on stderr"
    if any(line.startswith("Traceback") for line in lines):
        text = lines[-1]
    else:
        body = [line for line in lines if not line.startswith("warning:")] or lines
        text = body[0]
        if len(body) > 1 and body[1].startswith("- "):
            text += f"; first: {body[1][2:]}"
    return textwrap.shorten(text, width=limit, placeholder=" …")


def _submissions(preset: Preset, task: TaskSpec, reference: Path) -> dict[str, dict[str, bytes]]:
    """perfect (dev answers, anything valid for final), random, malformed (one value short)."""
    base = {name: data for name, data in sample_submission(preset, task)}
    perfect = dict(base)
    for solution in reference.rglob("solution.csv"):
        relative = solution.relative_to(reference).parent.as_posix()
        perfect[f"{relative}/prediction.csv"] = solution.read_bytes()
    rng = random.Random(0)
    randomised = {
        name: "".join(f"{rng.random():.6f}\n" for _ in data.splitlines()).encode()
        for name, data in base.items()
    }
    malformed = dict(base)
    first = sorted(malformed)[0]
    malformed[first] = b"\n".join(malformed[first].splitlines()[:-1]) + b"\n"
    return {"perfect": perfect, "random": randomised, "malformed": malformed}


def _score_checks(
    where: str,
    preset: Preset,
    task: TaskSpec,
    program: Path,
    reference: Path,
    command: str,
    columns: list[str],
    platform: str,
    nested: bool = True,
) -> list[str]:
    """Score the test submissions; with ``nested``, also the perfect one zipped inside a zip
    (its answer does not depend on the phase, so each bundle checks it once)."""
    problems = []
    path = reference / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    manifest = manifest if isinstance(manifest, dict) else {}  # reported by _reference_check
    submissions = _submissions(preset, task, reference)
    if nested:
        inner = {"submission.zip": zip_bytes(sorted(submissions["perfect"].items()))}
        problems += _nested_zip_check(where, program, reference, inner, command)
    for kind, submission in submissions.items():
        run = _platform_score(program, reference, submission, command, platform)
        if run.detailed:
            problems.append(f"{where}: the scoring program {run.detailed} ({kind} submission)")
        if kind == "malformed":
            if run.status == 0:
                problems.append(f"{where}: a malformed submission was accepted")
            elif "Traceback" in run.stderr or not run.stderr.strip():
                problems.append(f"{where}: a malformed submission got no clear message")
            continue
        if run.status != 0:
            problems.append(f"{where}: the {kind} submission failed: {first_error(run.stderr)}")
            continue
        txt, js = run.txt, run.js
        if set(txt) != set(js) or any(abs(txt[k] - js[k]) > 1e-4 for k in txt):
            problems.append(f"{where}: scores.txt and scores.json disagree")
        problems += scored_output_rules(
            manifest, task, columns, txt, run.stdout, run.page, f"{where} ({kind} submission)"
        )
        if kind == "perfect":
            ranking = txt.get("average_TPR_FPR_1000")
            if ranking != 1.0:
                problems.append(f"{where}: a perfect submission ranks {ranking}, not 1.0")
    return problems


def _reference_check(where: str, preset: Preset, inner: dict[str, Path]) -> list[str]:
    """The phase's reference manifest discloses what the preset says for that phase."""
    path = inner["reference_data"] / "manifest.json"
    if not path.is_file():
        return []  # reported above: no manifest.json at the reference data's root
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict):
        return [f"{where}: reference manifest.json is not an object"]
    return reference_disclosure_rules(preset, manifest, where)


def _nested_zip_check(
    where: str, program: Path, reference: Path, submission: dict[str, bytes], command: str
) -> list[str]:
    """The same zip must get the same answer on both platforms, although only CodaLab's worker
    unpacks a zip inside the submission."""
    accepted = [
        platform
        for platform in ("codalab", "codabench")
        if _platform_score(program, reference, submission, command, platform).status == 0
    ]
    if len(accepted) != 1:
        return []
    return [
        f"{where}: a zip inside the submission zip is accepted on {accepted[0]} only; the same "
        "submission must get the same answer on both platforms"
    ]


def _task_named(manifest: bytes) -> str | None:
    data = json.loads(manifest)
    return data.get("task") if isinstance(data, dict) else None


def reference_tasks(archive: zipfile.ZipFile) -> set[str]:
    """The tasks named by a platform bundle's reference manifests (inner zips or folders)."""
    found = set()
    for name in archive.namelist():
        if re.fullmatch(r"reference_data[^/]*\.zip", name):
            with zipfile.ZipFile(io.BytesIO(archive.read(name))) as inner:
                if "manifest.json" in inner.namelist():
                    found.add(_task_named(inner.read("manifest.json")))
        elif re.fullmatch(r"reference_data[^/]*/manifest\.json", name):
            found.add(_task_named(archive.read(name)))
    return {str(task) for task in found if task is not None}


def wrong_task(where: str, task: TaskSpec, found: set[str], what: str = "bundle") -> list[str]:
    """One line for another task's file under this task's name, before anything else fails.

    Scoring such a bundle fails on every submission with pages of 'no predictions' that never
    say the real cause: it was copied or renamed from another task's.
    """
    if not found or found == {task.id}:
        return []
    named = " and ".join(sorted(found))
    return [f"{where}: this {what} is for task {named}, not {task.id} (copied or renamed?)"]


def damaged_entries(where: str, archive: zipfile.ZipFile) -> list[str]:
    """One line if any entry fails its CRC.

    Entries no other check reads (a page, the logo, the starting kit) would otherwise reach the
    platform, and participants, broken.
    """
    damaged = archive.testzip()
    return (
        [f"{where}: damaged zip archive (entry {shown(damaged)} fails its CRC check)"]
        if damaged
        else []
    )


def _extract(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)


def check_codalab(preset: Preset, task: TaskSpec, path: Path, score: bool = True) -> list[str]:
    """Everything about one CodaLab bundle; ``score=False`` skips running the scoring program
    (only the tests use it, to check competition.yaml alone quickly)."""
    where = str(path)
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        wrong = wrong_task(where, task, reference_tasks(archive))
        if wrong:
            return wrong
        problems += damaged_entries(where, archive)
        yamls = [n for n in names if n.endswith(".yaml") or n.endswith(".yml")]
        if not yamls or yamls[0] != "competition.yaml" or len(yamls) > 1:
            return problems + [
                f"{where}: competition.yaml must be the first and only YAML at the zip root (found {yamls})"
            ]
        competition = yaml.safe_load(archive.read("competition.yaml"))
        if not isinstance(competition, dict):
            return problems + [f"{where}: competition.yaml is not a mapping"]
        problems += codalab_rules(preset, task, competition, where)
        if _unpinned(competition.get("competition_docker_image")):
            problems.append(f"{where}: competition_docker_image is not pinned to a tag")
        html = competition.get("html") or {}
        for page in CODALAB_PAGES:
            if page not in html or html[page] not in names:
                problems.append(f"{where}: html page '{page}' missing")
        if competition.get("image") not in names:
            problems.append(f"{where}: logo {competition.get('image')!r} missing")
        columns = (competition.get("leaderboard") or {}).get("columns") or {}
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            for number, phase in sorted((competition.get("phases") or {}).items()):
                for key in PHASE_FILE_KEYS:
                    if key in phase and phase[key] not in names:
                        problems.append(
                            f"{where}: phase {number} {key} {phase[key]!r} is not in the bundle"
                        )
                if any(phase.get(k) not in names for k in ("scoring_program", "reference_data")):
                    continue
                inner = {}
                for key, marker in (
                    ("scoring_program", "metadata"),
                    ("reference_data", "manifest.json"),
                ):
                    inner[key] = root / f"{number}-{key}"
                    _extract(archive.read(phase[key]), inner[key])
                    if not (inner[key] / marker).is_file():
                        problems.append(
                            f"{where}: {phase[key]} has no {marker} at its root (zip the folder's contents)"
                        )
                problems += _reference_check(f"{where} phase {number}", preset, inner)
                metadata = inner["scoring_program"] / "metadata"
                if not metadata.is_file():
                    continue
                command = yaml.safe_load(metadata.read_text()).get("command", "")
                if command != CODALAB_COMMAND:
                    problems.append(
                        f"{where}: metadata command {command!r}, expected {CODALAB_COMMAND!r}"
                    )
                    continue
                if not score:
                    continue
                problems += _score_checks(
                    f"{where} phase {number}",
                    preset,
                    task,
                    inner["scoring_program"],
                    inner["reference_data"],
                    command,
                    list(columns),
                    "codalab",
                    nested=number == min(competition["phases"]),
                )
    return problems


def check_codabench(preset: Preset, task: TaskSpec, path: Path, score: bool = True) -> list[str]:
    """Everything about one Codabench bundle; ``score=False`` as in :func:`check_codalab`."""
    where = str(path)
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        wrong = wrong_task(where, task, reference_tasks(archive))
        if wrong:
            return wrong
        problems += damaged_entries(where, archive)
        if "competition.yaml" not in names:
            return problems + [f"{where}: no competition.yaml at the zip root"]
        competition = yaml.safe_load(archive.read("competition.yaml"))
        if not isinstance(competition, dict):
            return problems + [f"{where}: competition.yaml is not a mapping"]
        problems += codabench_rules(preset, task, competition, where)
        if _unpinned(competition.get("docker_image")):
            problems.append(f"{where}: docker_image is not pinned to a tag")
        for page in competition.get("pages", []) + [{"file": competition.get("terms")}]:
            if page.get("file") not in names:
                problems.append(f"{where}: page {page.get('file')!r} missing")
        tasks = {t["index"]: t for t in competition.get("tasks", [])}
        for phase in competition.get("phases", []):
            for index in phase.get("tasks", []):
                if index not in tasks:
                    problems.append(f"{where}: phase {phase.get('name')} uses unknown task {index}")
        leaderboards = competition.get("leaderboards") or [{}]
        columns = leaderboards[0].get("columns") or []
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            archive.extractall(root)
            for index, spec in sorted(tasks.items()):
                program, reference = root / spec["scoring_program"], root / spec["reference_data"]
                if not program.is_dir() or not reference.is_dir():
                    problems.append(f"{where}: task {index} folders missing")
                    continue
                command = yaml.safe_load((program / "metadata.yaml").read_text()).get("command", "")
                legacy = (
                    command.replace("/app/program", "$program")
                    .replace("/app/input", "$input")
                    .replace("/app/output", "$output")
                )
                problems += _reference_check(
                    f"{where} task {index}", preset, {"reference_data": reference}
                )
                if not score:
                    continue
                problems += _score_checks(
                    f"{where} task {index}",
                    preset,
                    task,
                    program,
                    reference,
                    legacy,
                    [c["key"] for c in columns],
                    "codabench",
                    nested=index == min(tasks),
                )
    return problems


def check_data_archive(preset: Preset, task: TaskSpec, path: Path) -> list[str]:
    """The participant archive: this task's public tree, intact, and no ground truth in it.

    The bundle step refuses a polluted public tree; this catches an archive built some other
    way (an older generator, a hand-made zip) before it is published.
    """
    where = str(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifests = [n for n in names if re.fullmatch(r"[^/]+/manifest\.json", n)]
        found = {_task_named(archive.read(name)) for name in manifests}
        wrong = wrong_task(where, task, {str(t) for t in found if t is not None}, "archive")
        if wrong:
            return wrong
        problems = []
        if f"{task.id}/manifest.json" not in names:
            problems.append(
                f"{where}: no {task.id}/manifest.json, not task {task.id}'s public tree"
            )
        leaks = ground_truth_leaks(names)
        if leaks:
            more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
            problems.append(
                f"{where}: holds ground truth participants must not see: {shown(leaks[0])}{more}"
            )
        problems += damaged_entries(where, archive)
    return problems


BUNDLE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("codalab", check_codalab),
    ("codabench", check_codabench),
    ("data", check_data_archive),
)


def shown(text: str) -> str:
    """``text`` safe for a one-line report: a damaged entry name can hold control characters."""
    return text if text.isprintable() else ascii(text)[1:-1]


def _one_line(error: BaseException) -> str:
    text = shown(" ".join(str(error).split()))
    return textwrap.shorten(text, width=STDERR_SHOWN, placeholder=" …")


def describe_unreadable(error: BaseException) -> str:
    """What reading a damaged or hand-edited bundle raised, as words an organizer can act on."""
    if isinstance(error, NotImplementedError):  # zipfile: an unknown compression method
        return "damaged or not a zip archive (an entry uses an unknown compression method)"
    if isinstance(error, zipfile.BadZipFile | zlib.error | EOFError | RuntimeError):
        return f"damaged or not a zip archive ({_one_line(error)})"
    if isinstance(error, yaml.YAMLError):
        return f"a YAML file in it does not parse ({_one_line(error)})"
    if isinstance(error, json.JSONDecodeError):
        return f"a JSON file in it does not parse ({_one_line(error)})"
    if isinstance(error, UnicodeDecodeError):
        return f"a text file in it is not UTF-8 ({error.reason} at byte {error.start})"
    if isinstance(error, KeyError):
        detail = str(error.args[0]) if error.args else ""
        return (
            detail
            if detail.startswith("There is no item")
            else f"no {detail!r} entry where expected"
        )
    if isinstance(error, OSError) and error.filename is None:  # a seek inside a damaged zip
        return f"damaged or not a zip archive ({error.strerror or _one_line(error)})"
    if isinstance(error, OSError):
        return f"cannot be read ({error.strerror or _one_line(error)})"
    if isinstance(error, TypeError | AttributeError):
        return f"a YAML or JSON file in it is not shaped as expected ({_one_line(error)})"
    return _one_line(error)


def check_one(check: Check, preset: Preset, task: TaskSpec, path: Path) -> list[str]:
    """Run one bundle's check; if the bundle cannot even be read, one line says so."""
    try:
        return check(preset, task, path)
    except UNREADABLE as error:
        return [f"{path}: {describe_unreadable(error)}"]


def check_bundles(preset: Preset, folder: Path) -> list[str]:
    """Every problem found in every task's bundles; an empty list means all pass."""
    problems = []
    for task in preset.tasks:
        for suffix, check in BUNDLE_CHECKS:
            path = folder / f"{task.id}-{suffix}.zip"
            if not path.is_file():
                problems.append(f"{path}: bundle not found (run 'make bundle' first)")
                continue
            problems += check_one(check, preset, task, path)
    return problems
