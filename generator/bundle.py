"""Competition bundles: CodaLab v1.5 and Codabench zips, participant archives, checksums.

Inputs are the exported public tree and reference data (``generator.export``); outputs are the
files an organizer uploads or publishes, named ``bundles/<task>-codalab.zip``,
``<task>-codabench.zip``, ``<task>-data.zip`` and ``bundles/SHA256SUMS``. Every zip is
reproducible (``generator.zips``), so the checksums change only when content does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .export import reference_manifest
from .logo import draw_logo
from .pages import (
    PAGE_NAMES,
    ROOT,
    SCORING_DIR,
    html_page,
    render_codabench_yaml,
    render_codalab_yaml,
    render_markdown_pages,
)
from .presets import Preset, TaskSpec
from .zips import tree_entries, write_zip, zip_bytes

KIT_DIR = ROOT / "starting_kit"
CODABENCH_METADATA = "command: python3 /app/program/score.py /app/input /app/output\n"
Entries = list[tuple[str, bytes | Path]]


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


def data_archive(task: TaskSpec, public_root: Path, target: Path) -> Path:
    """What participants download: the public tree, the starting kit and the scoring program."""
    entries = tree_entries(public_root / task.id, f"{task.id}/")
    entries += kit_entries("starting_kit/")
    entries += scoring_entries("scoring_program/")
    return write_zip(target, entries)


def write_checksums(folder: Path) -> Path:
    """``SHA256SUMS`` over every file in ``folder`` (sha256sum -c compatible)."""
    lines = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "SHA256SUMS" and not path.name.startswith("."):
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    target = folder / "SHA256SUMS"
    target.write_text("".join(lines), encoding="ascii")
    return target


def build_task_bundles(
    preset: Preset, task: TaskSpec, public_root: Path, reference_root: Path, out: Path
) -> list[Path]:
    return [
        codalab_bundle(preset, task, reference_root, out / f"{task.id}-codalab.zip"),
        codabench_bundle(preset, task, reference_root, out / f"{task.id}-codabench.zip"),
        data_archive(task, public_root, out / f"{task.id}-data.zip"),
    ]
