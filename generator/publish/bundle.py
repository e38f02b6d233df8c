"""Competition bundles: CodaLab v1.5 and Codabench zips, participant archives, checksums.

Inputs are the exported public tree and reference data (``generator.publish.export``); outputs are the
files an organizer uploads or publishes, named ``bundles/<task>-codalab.zip``,
``<task>-codabench.zip``, ``<task>-data.zip``, and two checksum lists: ``SHA256SUMS`` for the
participant archives (published beside them) and ``SHA256SUMS.organizer`` for everything else
(the platform bundles hold every solution; they and the reports stay with the organizer). Every
zip is reproducible (``generator.publish.zips``), so the checksums change only when content does. A
public tree holding ground truth is refused before any of a task's zips is written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from micokit.layout import (
    GROUND_TRUTH_FILES,
    ORGANIZER_SUMS,
    PREDICTION_FILE,
    PUBLIC_FILES,
    PUBLISHED_SUMS,
    SECRET_PHASES,
)

from ..paths import KIT_DIR
from ..spec.presets import Preset, TaskSpec
from ..writes import write_text_atomic
from .columns import SCORING_DIR
from .export import ExportError, reference_manifest
from .logo import draw_logo
from .pages import PAGE_NAMES, html_page, render_markdown_pages
from .platforms import render_codabench_yaml, render_codalab_yaml
from .zips import tree_entries, write_zip, zip_bytes

CODABENCH_METADATA = "command: python3 /app/program/score.py /app/input /app/output\n"
Entries = list[tuple[str, bytes | Path]]
# GROUND_TRUTH_FILES reveal membership. Train models publish some on purpose (PUBLIC_FILES);
# anywhere else in a participant archive they are dev/final ground truth or the seeds behind it.
CHECKSUM_FILES = (PUBLISHED_SUMS, ORGANIZER_SUMS)


DATA_ARCHIVE_SUFFIX = "-data.zip"


def data_archive_name(task_id: str) -> str:
    """The participant archive's file name: the one kind of bundle output that is published."""
    return f"{task_id}{DATA_ARCHIVE_SUFFIX}"


class BundleError(ExportError):
    """A bundle cannot be written safely. An ExportError, so the CLI reports it as one line."""


def scoring_entries(prefix: str = "") -> Entries:
    return tree_entries(SCORING_DIR, prefix)


def kit_entries(prefix: str = "") -> Entries:
    return [(name, path) for name, path in tree_entries(KIT_DIR, prefix) if ".egg-info" not in name]


def sample_submission(preset: Preset, task: TaskSpec, value: str = "0.5") -> Entries:
    """A valid submission with the same score everywhere: the Codabench bundle's 'solution'."""
    manifest = reference_manifest(preset, task, "dev")
    entries: Entries = []
    for scenario in manifest["scenarios"]:
        for phase, models in scenario["models"].items():
            for model, count in models.items():
                name = f"{task.id}/{scenario['id']}/{phase}/{model}/{PREDICTION_FILE}"
                entries.append((name, (value + "\n").encode() * count))
    return entries


def codalab_bundle(preset: Preset, task: TaskSpec, reference_root: Path, target: Path) -> Path:
    """CodaLab v1.5: competition.yaml at the root (its only YAML), pages, logo, inner zips."""
    pages = render_markdown_pages(preset, task)
    entries: Entries = [
        ("competition.yaml", render_codalab_yaml(preset, task).encode()),
        ("logo.png", draw_logo()),
        ("scoring_program.zip", zip_bytes(scoring_entries())),
        ("starting_kit.zip", zip_bytes(kit_entries())),
    ]
    for name in PAGE_NAMES:
        entries.append((f"{name}.html", html_page(name.title(), pages[name]).encode()))
    for phase in SECRET_PHASES:
        entries.append(
            (
                f"reference_data_{phase}.zip",
                zip_bytes(tree_entries(reference_root / task.id / phase)),
            )
        )
    return write_zip(target, entries)


def codabench_bundle(preset: Preset, task: TaskSpec, reference_root: Path, target: Path) -> Path:
    """Codabench (version 2): folders instead of inner zips, Markdown pages, a sample solution."""
    pages = render_markdown_pages(preset, task)
    entries: Entries = [
        ("competition.yaml", render_codabench_yaml(preset, task).encode()),
        ("logo.png", draw_logo()),
        ("scoring_program/metadata.yaml", CODABENCH_METADATA.encode()),
    ]
    entries += [
        (n, p) for n, p in scoring_entries("scoring_program/") if n != "scoring_program/metadata"
    ]
    entries += kit_entries("starting_kit/")
    entries += [(f"pages/{name}.md", pages[name].encode()) for name in PAGE_NAMES]
    for phase in SECRET_PHASES:
        entries += tree_entries(reference_root / task.id / phase, f"reference_data_{phase}/")
    entries += [(f"solution/{name}", data) for name, data in sample_submission(preset, task)]
    return write_zip(target, entries)


def ground_truth_leaks(names: Iterable[str]) -> list[str]:
    """Archive names that would hand participants ground truth, in a data archive's layout.

    Export builds the public tree from an allow-list; this is the second lock, on the archive
    itself, for a public folder polluted afterwards (say the reference data was exported into
    it). Only ``<task>/<scenario>/train/model_<i>/`` may hold membership files.
    """
    leaks = []
    for name in names:
        parts = name.split("/")
        train = len(parts) == 5 and parts[2] == "train" and parts[3].startswith("model_")
        if parts[-1] in GROUND_TRUTH_FILES and not (train and parts[-1] in PUBLIC_FILES["train"]):
            leaks.append(name)
    return leaks


def data_entries(task: TaskSpec, public_root: Path) -> Entries:
    """What participants download: public tree, starting kit and scoring program.

    Raises BundleError if any entry is ground truth.
    """
    entries: Entries = list(tree_entries(public_root / task.id, f"{task.id}/"))
    entries += kit_entries("starting_kit/")
    entries += scoring_entries("scoring_program/")
    leaks = ground_truth_leaks(name for name, _ in entries)
    if leaks:
        first = dict(entries)[leaks[0]]
        more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
        raise BundleError(
            f"{first}: ground truth in the public tree{more}; refusing to write "
            f"{data_archive_name(task.id)} (was the reference folder used as --public?)"
        )
    return entries


def clear_outputs(folder: Path) -> list[Path]:
    """Before writing bundles into ``folder``: drop the checksum lists and stale temporaries.

    The checksum lists go first, so a run killed at any point afterwards leaves none rather
    than lists that no longer match the zips beside them (:func:`write_checksums` writes them
    again, last). ``.tmp-`` files are what a killed run's atomic writes left behind; call this
    only while holding the folder's lock (:func:`generator.locks.folder_lock`), so that none of
    them belongs to a live run.
    """
    removed = []
    for name in CHECKSUM_FILES:
        if (folder / name).is_file():
            (folder / name).unlink()
            removed.append(folder / name)
    for tmp in folder.glob(".tmp-*"):
        if tmp.is_file():
            tmp.unlink()
            removed.append(tmp)
    return removed


def write_checksums(folder: Path, written: Iterable[Path]) -> tuple[Path, Path]:
    """``SHA256SUMS`` (participant archives) and ``SHA256SUMS.organizer`` (everything else this
    run wrote), both ``sha256sum -c`` compatible, each written atomically from the files on disk.

    Only what this tool wrote: a stray notes.txt or an old task's zip in the same folder must
    not look vouched for. Published and private files are listed apart so that publishing
    ``SHA256SUMS`` does not announce the names and digests of the organizer-only bundles.
    """
    folder = folder.resolve()
    paths = [Path(p).resolve() for p in written]
    outside = [p for p in paths if p.parent != folder]
    if outside:
        raise BundleError(f"{outside[0]}: not in {folder}, cannot be listed in {PUBLISHED_SUMS}")
    names = {p.name for p in paths}
    published = {name for name in names if name.endswith(DATA_ARCHIVE_SUFFIX)}
    if not published:
        raise BundleError(f"{folder}: no participant archive written there by this run to list")
    return (
        _write_sums(folder, PUBLISHED_SUMS, published),
        _write_sums(folder, ORGANIZER_SUMS, names - published),
    )


def _write_sums(folder: Path, target_name: str, names: set[str]) -> Path:
    lines = []
    for name in sorted(names):
        digest = hashlib.sha256()
        with open(folder / name, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {name}\n")
    return write_text_atomic(folder / target_name, "".join(lines), encoding="ascii")


def build_task_bundles(
    preset: Preset, task: TaskSpec, public_root: Path, reference_root: Path, out: Path
) -> list[Path]:
    """The three zips of one task; the public tree is checked before any of them is written."""
    participant = data_entries(task, public_root)
    return [
        codalab_bundle(preset, task, reference_root, out / f"{task.id}-codalab.zip"),
        codabench_bundle(preset, task, reference_root, out / f"{task.id}-codabench.zip"),
        write_zip(out / data_archive_name(task.id), participant),
    ]
