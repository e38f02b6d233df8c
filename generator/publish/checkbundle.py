"""Open every bundle the way its platform does, then score test submissions through it.

The platform rules (dates, keys, lengths, phase ordering, leaderboard behaviour, migration and
visibility flags) live in ``generator.publish.conformance``, each citing the platform code it follows;
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
Participant archives: for the task their name says, no ground truth inside, and every model
the preset has usable with the starting kit's own loader (``participant_problems``).
Checksums: ``SHA256SUMS`` (always) and ``SHA256SUMS.organizer`` (when present) still match the
files they list, and every zip in the folder is listed (``checksum_problems``).
A bundle that cannot be read at all (truncated, not a zip, a damaged entry, a YAML that does not
parse) is one line naming it; the other bundles are still checked.
"""

from __future__ import annotations

import hashlib
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
from micokit.layout import MANIFEST_FILE, SOLUTION_FILE, WEIGHTS_DIR, WEIGHTS_FILE

from ..spec.presets import Preset, TaskSpec
from .bundle import (
    DATA_ARCHIVE_SUFFIX,
    ORGANIZER_SUMS,
    PUBLISHED_SUMS,
    data_archive_name,
    ground_truth_leaks,
    sample_submission,
)
from .conformance import (
    codabench_rules,
    codalab_rules,
    reference_disclosure_rules,
    scored_output_rules,
)
from .export import model_tasks
from .zips import zip_bytes

CODALAB_PAGES = ("overview", "evaluation", "terms", "data")
CODALAB_COMMAND = "python3 $program/score.py $input $output"
DETAILED = "detailed_results.html"
PHASE_FILE_KEYS = ("scoring_program", "reference_data", "starting_kit", "public_data", "input_data")
SCORE_TIMEOUT = 300
STDERR_SHOWN = 240
# What a damaged or hand-edited bundle raises while being read; each becomes one line.
UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    yaml.YAMLError,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
)
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
    for solution in reference.rglob(SOLUTION_FILE):
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
    path = reference / MANIFEST_FILE
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
    path = inner["reference_data"] / MANIFEST_FILE
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
                if MANIFEST_FILE in inner.namelist():
                    found.add(_task_named(inner.read(MANIFEST_FILE)))
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


def _extract(
    source: bytes | zipfile.ZipFile, target: Path, members: list[str] | None = None
) -> None:
    """Unpack zip bytes, or ``members`` of an open archive, under ``target``.

    The archive may be hostile: zipfile drops absolute paths and ``..`` components from entry
    names and creates no links, so whatever the names say, nothing lands outside ``target``.
    """
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(source, zipfile.ZipFile):
        source.extractall(target, members)
        return
    with zipfile.ZipFile(io.BytesIO(source)) as archive:
        archive.extractall(target, members)


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
                    ("reference_data", MANIFEST_FILE),
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
    """The participant archive: this task's public tree, intact, usable, and no ground truth in it.

    The bundle step refuses a polluted public tree; this catches an archive built some other
    way (an older generator, a hand-made zip, a file lost on the way) before it is published.
    Usable means what the starting kit's loader needs (:func:`participant_problems`).
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
        has_manifest = f"{task.id}/manifest.json" in names
        if not has_manifest:
            problems.append(
                f"{where}: no {task.id}/manifest.json, not task {task.id}'s public tree"
            )
        leaks = ground_truth_leaks(names)
        if leaks:
            problems.append(
                f"{where}: holds ground truth participants must not see: "
                f"{shown(leaks[0])}{_more(leaks)}"
            )
        damaged = damaged_entries(where, archive)
        problems += damaged
        if has_manifest and not damaged:  # a damaged entry would stop the extraction
            unusable = participant_problems(preset, task, archive)
            if unusable:
                problems.append(f"{where}: {unusable[0]}{_more(unusable)}")
    return problems


def _more(items: list) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


@dataclass(frozen=True)
class _Shape:
    """A tensor's shape as read from a safetensors header, for micokit's ``state_mismatch``."""

    shape: tuple[int, ...]


def participant_problems(preset: Preset, task: TaskSpec, archive: zipfile.ZipFile) -> list[str]:
    """What stops a participant from using the archive's public tree, one line per problem,
    each naming its entry (``image/image_inf/dev/model_0/model.safetensors: file not found``).

    The tree is unpacked into a temporary folder and opened with the starting kit's own loader
    (``micokit.loading``): the manifest as ``open_task`` validates it; every model the preset
    has is listed, and no other; each model's index files read and checked as ``ModelRef.check``
    does (against the shipped dataset when the preset ships one), its metadata.json, the
    disclosed training points where the task discloses them; its weights, which micokit would
    load: present, a readable safetensors file, tensors shaped as the manifest's architecture
    (the text models: config.json agreeing with the manifest, a tokenizer). Weights are read
    from their header only, one file at a time, so a large archive needs neither the memory nor
    the disk for all its models at once. The public manifest carries no digests to compare.
    """
    from micokit.errors import DataError
    from micokit.loading import open_task

    problems: list[str] = []
    prefix = f"{task.id}/"
    names = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
    weights = {n for n in names if n.endswith(".safetensors")}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        def entry(error: BaseException) -> str:
            return _one_line(str(error).replace(f"{root}{os.sep}", "").replace(str(root), "."))

        _extract(archive, root, [n for n in names if n not in weights])
        try:
            kit = open_task(root, task.id)
        except DataError as error:
            return [entry(error)]
        listed = [
            (scenario.id, phase, name)
            for scenario in kit.scenarios
            for phase, models in scenario.models.items()
            for name in models
        ]
        expected = [(m.scenario, m.phase, m.name) for m in model_tasks(preset, task)]
        manifest = f"{task.id}/manifest.json"
        problems += [
            f"{manifest}: does not list model {'/'.join(model)}, which the preset has"
            for model in expected
            if model not in listed
        ]
        problems += [
            f"{manifest}: lists model {'/'.join(model)}, which the preset does not have"
            for model in listed
            if model not in expected
        ]
        shapes: dict[str, dict[str, _Shape] | DataError] = {}
        for scenario in kit.scenarios:
            for phase in scenario.models:
                for ref in kit.models(scenario, phase):
                    try:
                        _check_model(ref, preset.publish_data, archive, root, shapes)
                    except DataError as error:
                        problems.append(entry(error))
    return list(dict.fromkeys(problems))  # a damaged dataset fails every model the same way


def _check_model(ref, shipped: bool, archive: zipfile.ZipFile, root: Path, shapes: dict) -> None:
    """One model as micokit uses it; DataError (micokit's own, naming the file) if it cannot."""
    from micokit.errors import DataError
    from micokit.layout import NONCHALLENGE_FILE

    if shipped:
        ref.check(training=True)  # index files, against the dataset and each other
    else:  # the participant's own copy of the dataset: only the files themselves
        _ = ref.challenge_indices, ref.membership, ref.training_indices
    if ref.task.disclose_training and ref.phase != "train":
        if ref.nonchallenge_training_indices is None:
            raise DataError(f"{ref.path / NONCHALLENGE_FILE}: file not found")
    _ = ref.metadata
    if ref.scenario.weights == WEIGHTS_DIR:  # a save_pretrained folder (RoBERTa)
        folder = ref.path / WEIGHTS_DIR
        if not (folder / "config.json").is_file():
            raise DataError(f"{folder}: no config.json (expected a save_pretrained folder)")
        ref._check_text_config(folder / "config.json")
        slow = (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
        if not (folder / "tokenizer.json").is_file() and not slow:
            raise DataError(f"{folder}: no tokenizer.json (nor vocab.json and merges.txt)")
        _check_weights(folder / WEIGHTS_FILE, archive, root, None)
        return
    if ref.scenario.id not in shapes:
        shapes[ref.scenario.id] = _architecture_shapes(ref)
    expected = shapes[ref.scenario.id]
    if isinstance(expected, DataError):
        raise expected
    _check_weights(ref.path / WEIGHTS_FILE, archive, root, expected)


def _architecture_shapes(ref):
    """The tensor shapes of the scenario's architecture, built as micokit builds it, or the
    DataError micokit would raise."""
    from micokit.errors import DataError

    try:
        module = ref.build_architecture()
    except DataError as error:
        return error
    return {name: _Shape(tuple(t.shape)) for name, t in module.state_dict().items()}


def _check_weights(
    path: Path, archive: zipfile.ZipFile, root: Path, expected: dict[str, _Shape] | None
) -> None:
    """A weights file micokit can load: in the archive, a safetensors file whose header reads
    and whose data are all there, with the tensors ``expected`` (when known). Only this file is
    unpacked, and removed again."""
    from micokit.errors import DataError
    from micokit.loading import first_line, state_mismatch
    from safetensors import safe_open

    name = path.relative_to(root).as_posix()
    if name not in archive.NameToInfo:
        raise DataError(f"{path}: file not found")
    _extract(archive, root, [name])
    try:
        with safe_open(str(path), framework="pt") as handle:
            found = {key: _Shape(tuple(handle.get_slice(key).get_shape())) for key in handle.keys()}
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise DataError(f"{path}: not a readable safetensors file ({first_line(error)})") from None
    finally:
        path.unlink(missing_ok=True)
    problem = state_mismatch(expected, found) if expected is not None else None
    if problem:
        raise DataError(f"{path}: weights do not fit the manifest's architecture ({problem})")


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
    """Every problem found in every task's bundles and in the checksum lists beside them; an
    empty list means all pass."""
    problems = []
    for task in preset.tasks:
        for suffix, check in BUNDLE_CHECKS:
            path = folder / f"{task.id}-{suffix}.zip"
            if not path.is_file():
                problems.append(f"{path}: bundle not found (run 'make bundle' first)")
                continue
            problems += check_one(check, preset, task, path)
    return problems + checksum_problems(folder)


SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")  # sha256sum's text and binary modes


def read_sums(path: Path) -> tuple[dict[str, str], list[str]]:
    """``name -> digest`` from a ``sha256sum`` list, and a line per line that is not one."""
    listed: dict[str, str] = {}
    problems = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return {}, [f"{path}: cannot be read ({_one_line(error)})"]
    for number, line in enumerate(text.splitlines(), 1):
        match = SUM_LINE.fullmatch(line)
        if not match:
            problems.append(f"{path}: line {number} is not '<sha256>  <file name>'")
        elif match[2] in listed:
            problems.append(f"{path}: lists {shown(match[2])} twice")
        else:
            listed[match[2]] = match[1].lower()
    return listed, problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_problems(folder: Path) -> list[str]:
    """The bundle step's checksum lists still vouch for the folder's files.

    ``SHA256SUMS`` (published: participant archives only) and ``SHA256SUMS.organizer`` must
    exist, as the bundle step always writes both; each must name files of this folder
    whose SHA-256 still matches, and every zip here must be listed in the one its kind belongs
    to: a zip no list vouches for was not written by the run that wrote the lists.
    """
    problems = []
    lists: dict[str, dict[str, str]] = {}
    for sums in (PUBLISHED_SUMS, ORGANIZER_SUMS):
        path = folder / sums
        if not path.is_file():
            problems.append(
                f"{path}: not found (the bundle step writes it last: was it interrupted?)"
            )
            continue
        listed, malformed = read_sums(path)
        problems += malformed
        lists[sums] = listed
        for name, digest in listed.items():
            target = folder / name
            if "/" in name or "\\" in name or name in (".", ".."):
                problems.append(f"{path}: lists {shown(name)}, which is not a file of {folder}")
            elif not target.is_file():
                problems.append(f"{path}: lists {shown(name)}, which is not in {folder}")
            elif _sha256(target) != digest:
                problems.append(
                    f"{path}: {shown(name)} does not match its SHA-256 (changed since the "
                    "bundle step wrote the list; rebuild, or copy the file again)"
                )
            elif sums == PUBLISHED_SUMS and not name.endswith(DATA_ARCHIVE_SUFFIX):
                problems.append(
                    f"{path}: lists {shown(name)}, which is not a participant archive "
                    "(publishing the list would announce an organizer-only file)"
                )
    for zip_path in sorted(folder.glob("*.zip")) if folder.is_dir() else []:
        belongs = PUBLISHED_SUMS if zip_path.name.endswith(DATA_ARCHIVE_SUFFIX) else ORGANIZER_SUMS
        if belongs in lists and zip_path.name not in lists[belongs]:
            problems.append(
                f"{zip_path}: not listed in {belongs} (not written by the bundle step run "
                "that wrote the list: remove it, or rebuild)"
            )
    return problems


def summary(preset: Preset, folder: Path) -> list[str]:
    """What a passing :func:`check_bundles` checked, in a few lines for the organizer."""
    lines = [f"checked {folder}:"]
    for task in preset.tasks:
        models = len(model_tasks(preset, task))
        lines.append(
            f"  {task.id}: codalab and codabench bundles pass the platform rules and score "
            "perfect, random, malformed and nested-zip submissions as the workers do; "
            f"{data_archive_name(task.id)}: no ground truth, all {models} models complete and "
            "readable with micokit"
        )
    counts = [
        f"{sums} ({len(read_sums(folder / sums)[0])} files)"
        for sums in (PUBLISHED_SUMS, ORGANIZER_SUMS)
    ]
    lines.append(f"  checksums: {'; '.join(counts)}: every zip listed, every digest matches")
    lines.append(f"all bundles in {folder} pass")
    return lines
