"""Competition bundles: CodaLab v1.5 and Codabench zips, participant archives, checksums.

Inputs are the exported public tree and reference data (``generator.export``); outputs are the
files an organizer uploads or publishes, named ``bundles/<task>-codalab.zip``,
``<task>-codabench.zip``, ``<task>-data.zip`` and ``bundles/SHA256SUMS``. Every zip is
reproducible (``generator.zips``), so the checksums change only when content does. A public tree
holding ground truth is refused before any of a task's zips is written.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from .columns import SCORING_DIR
from .export import PUBLIC_FILES, ExportError, reference_manifest
from .logo import draw_logo
from .pages import PAGE_NAMES, ROOT, html_page, render_markdown_pages
from .platforms import render_codabench_yaml, render_codalab_yaml
from .presets import Preset, TaskSpec
from .zips import tree_entries, write_zip, zip_bytes

KIT_DIR = ROOT / "starting_kit"
CODABENCH_METADATA = "command: python3 /app/program/score.py /app/input /app/output\n"
Entries = list[tuple[str, bytes | Path]]
# Files that reveal membership. Train models publish some on purpose (export's PUBLIC_FILES);
# anywhere else in a participant archive they are dev/final ground truth or the seeds behind it.
GROUND_TRUTH_FILES = ("solution.csv", "training_indices.csv", "seed_membership", "private.json")


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
                name = f"{task.id}/{scenario['id']}/{phase}/{model}/prediction.csv"
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
    for phase in ("dev", "final"):
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
    for phase in ("dev", "final"):
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
            f"{task.id}-data.zip (was the reference folder used as --public?)"
        )
    return entries


def write_checksums(folder: Path, written: Iterable[Path]) -> Path:
    """``SHA256SUMS`` over the files this run ``written`` (sha256sum -c compatible), atomically.

    Only what this tool wrote: a stray notes.txt or an old task's zip in the same folder must
    not look vouched for.
    """
    folder = folder.resolve()
    paths = [Path(p).resolve() for p in written]
    outside = [p for p in paths if p.parent != folder]
    if outside:
        raise BundleError(f"{outside[0]}: not in {folder}, cannot be listed in SHA256SUMS")
    names = {p.name for p in paths}
    if not names:
        raise BundleError(f"{folder}: no bundles written there by this run to list in SHA256SUMS")
    lines = [
        f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n"
        for name in sorted(names)
    ]
    target = folder / "SHA256SUMS"
    tmp = folder / f".tmp-SHA256SUMS-{secrets.token_hex(4)}"
    try:
        tmp.write_text("".join(lines), encoding="ascii")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def build_task_bundles(
    preset: Preset, task: TaskSpec, public_root: Path, reference_root: Path, out: Path
) -> list[Path]:
    """The three zips of one task; the public tree is checked before any of them is written."""
    participant = data_entries(task, public_root)
    return [
        codalab_bundle(preset, task, reference_root, out / f"{task.id}-codalab.zip"),
        codabench_bundle(preset, task, reference_root, out / f"{task.id}-codabench.zip"),
        write_zip(out / f"{task.id}-data.zip", participant),
    ]
