"""Open every bundle the way its platform does, then score test submissions through it.

CodaLab v1.5: the first ``*.yaml`` entry is the competition (and must be the only one), top-level
keys are from the set CodaLab knows, the four html pages exist, phases point at inner zips that
exist and hold their folder's *contents*, the scoring program's ``metadata`` has the command.
Codabench v2: ``version: 2``, tasks and phases reference existing folders, one leaderboard whose
first column is the ranking score, keys and titles within 36 characters, a pinned image.
Both: a perfect, a random and a malformed submission are scored by the bundled program run as
the platform runs it, and the leaderboard columns must be exactly the keys in scores.txt and
scores.json.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

from .bundle import sample_submission
from .presets import Preset, TaskSpec

CODALAB_KEYS = {
    "title", "description", "image", "has_registration", "html", "phases", "leaderboard",
    "competition_docker_image", "start_date", "end_date", "admin_names", "allow_public_submissions",
    "allow_teams", "anonymous_leaderboard", "disallow_leaderboard_modifying",
    "enable_detailed_results", "enable_forum", "enable_per_submission_metadata",
    "force_submission_to_leaderboard", "show_datasets_from_yaml", "queue", "allow_organizer_teams",
}  # fmt: skip
CODALAB_PAGES = ("overview", "evaluation", "terms", "data")
CODALAB_COMMAND = "python3 $program/score.py $input $output"
CODABENCH_MAX = 36
PHASE_FILE_KEYS = ("scoring_program", "reference_data", "starting_kit", "public_data", "input_data")


def _unpinned(image: str | None) -> bool:
    return not image or ":" not in image or image.endswith(":latest")


def _platform_score(
    program: Path, reference: Path, submission: dict[str, bytes], command: str
) -> tuple[int, str, dict, dict]:
    """Run the scoring program as a CodaLab worker: own cwd, command split on spaces, no shell."""
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder)
        shutil.copytree(program, run / "program")
        shutil.copytree(reference, run / "input" / "ref")
        res = run / "input" / "res"
        res.mkdir()
        for name, data in submission.items():
            (res / name).parent.mkdir(parents=True, exist_ok=True)
            (res / name).write_bytes(data)
        (run / "output").mkdir()
        values = {"$program": run / "program", "$input": run / "input", "$output": run / "output"}
        argv = command.split(" ")
        for placeholder, path in values.items():
            argv = [part.replace(placeholder, str(path)) for part in argv]
        argv[0] = sys.executable if argv[0] in ("python", "python3") else argv[0]
        done = subprocess.run(argv, cwd=run, capture_output=True, text=True, timeout=300)
        scores_txt, scores_json = {}, {}
        if (run / "output" / "scores.txt").is_file():
            for line in (run / "output" / "scores.txt").read_text().splitlines():
                label, value = line.split(":")  # exactly what CodaLab v1.5 does
                scores_txt[label] = float(value)
        if (run / "output" / "scores.json").is_file():
            scores_json = json.loads((run / "output" / "scores.json").read_text())
        return done.returncode, done.stderr, scores_txt, scores_json


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
    where: str, preset, task, program: Path, reference: Path, command: str, columns: list[str]
) -> list[str]:
    problems = []
    for kind, submission in _submissions(preset, task, reference).items():
        status, stderr, txt, js = _platform_score(program, reference, submission, command)
        if kind == "malformed":
            if status == 0:
                problems.append(f"{where}: a malformed submission was accepted")
            elif "Traceback" in stderr or not stderr.strip():
                problems.append(f"{where}: a malformed submission got no clear message")
            continue
        if status != 0:
            problems.append(f"{where}: the {kind} submission failed: {stderr.strip()[-300:]}")
            continue
        if set(txt) != set(js) or any(abs(txt[k] - js[k]) > 1e-4 for k in txt):
            problems.append(f"{where}: scores.txt and scores.json disagree")
        if set(columns) != set(txt):
            missing, unused = sorted(set(columns) - set(txt)), sorted(set(txt) - set(columns))
            problems.append(
                f"{where}: columns without scores {missing}, scores without columns {unused}"
            )
        if kind == "perfect":
            ranking = txt.get("average_TPR_FPR_1000")
            if ranking != 1.0:
                problems.append(f"{where}: a perfect submission ranks {ranking}, not 1.0")
    return problems


def _extract(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(target)


def check_codalab(preset: Preset, task: TaskSpec, path: Path) -> list[str]:
    where = path.name
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        yamls = [n for n in names if n.endswith(".yaml") or n.endswith(".yml")]
        if not yamls or yamls[0] != "competition.yaml" or len(yamls) > 1:
            return [
                f"{where}: competition.yaml must be the first and only YAML at the zip root (found {yamls})"
            ]
        competition = yaml.safe_load(archive.read("competition.yaml"))
        unknown = sorted(set(competition) - CODALAB_KEYS)
        if unknown:
            problems.append(f"{where}: CodaLab rejects unknown top-level keys {unknown}")
        if _unpinned(competition.get("competition_docker_image")):
            problems.append(f"{where}: competition_docker_image is not pinned to a tag")
        html = competition.get("html") or {}
        for page in CODALAB_PAGES:
            if page not in html or html[page] not in names:
                problems.append(f"{where}: html page '{page}' missing")
        if competition.get("image") not in names:
            problems.append(f"{where}: logo {competition.get('image')!r} missing")
        leaderboard = competition.get("leaderboard") or {}
        boards = list((leaderboard.get("leaderboards") or {}).values())
        columns = leaderboard.get("columns") or {}
        for key, column in columns.items():
            if column.get("leaderboard") not in boards:
                problems.append(f"{where}: column {key} points at no leaderboard")
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            for number, phase in sorted((competition.get("phases") or {}).items()):
                for key in PHASE_FILE_KEYS:
                    if key in phase and phase[key] not in names:
                        problems.append(
                            f"{where}: phase {number} {key} {phase[key]!r} is not in the bundle"
                        )
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
                metadata = inner["scoring_program"] / "metadata"
                if not metadata.is_file():
                    continue
                command = yaml.safe_load(metadata.read_text()).get("command", "")
                if command != CODALAB_COMMAND:
                    problems.append(
                        f"{where}: metadata command {command!r}, expected {CODALAB_COMMAND!r}"
                    )
                    continue
                problems += _score_checks(
                    f"{where} phase {number}",
                    preset,
                    task,
                    inner["scoring_program"],
                    inner["reference_data"],
                    command,
                    list(columns),
                )
    return problems


def check_codabench(preset: Preset, task: TaskSpec, path: Path) -> list[str]:
    where = path.name
    problems: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "competition.yaml" not in names:
            return [f"{where}: no competition.yaml at the zip root"]
        competition = yaml.safe_load(archive.read("competition.yaml"))
        if competition.get("version") != 2:
            problems.append(f"{where}: version must be 2")
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
        leaderboards = competition.get("leaderboards", [])
        if len(leaderboards) != 1:
            problems.append(f"{where}: expected one leaderboard, found {len(leaderboards)}")
            return problems
        columns = leaderboards[0].get("columns", [])
        if not columns or columns[0]["key"] != "average_TPR_FPR_1000":
            problems.append(
                f"{where}: the first column must be the ranking score average_TPR_FPR_1000"
            )
        for column in columns:
            for field in ("key", "title"):
                if len(column[field]) > CODABENCH_MAX:
                    problems.append(
                        f"{where}: column {field} {column[field]!r} is over {CODABENCH_MAX} characters"
                    )
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
                problems += _score_checks(
                    f"{where} task {index}",
                    preset,
                    task,
                    program,
                    reference,
                    legacy,
                    [c["key"] for c in columns],
                )
    return problems


def check_bundles(preset: Preset, folder: Path) -> list[str]:
    """Every problem found in every task's bundles; an empty list means all pass."""
    problems = []
    for task in preset.tasks:
        for suffix, check in (("codalab", check_codalab), ("codabench", check_codabench)):
            path = folder / f"{task.id}-{suffix}.zip"
            if not path.is_file():
                problems.append(f"{path}: bundle not found (run 'make bundle' first)")
                continue
            problems += check(preset, task, path)
    return problems
