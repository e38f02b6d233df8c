"""Reproducible zip archives: same inputs, byte-identical zips.

Entries are written by micokit.layout.write_zip_entries (sorted, stamped 1980-01-01, fixed
permissions and compression level, the same writer as participants' submissions), so that
`SHA256SUMS` only changes when content does. Junk that desktop tools add
(`__MACOSX/`, `.DS_Store`, `._*`, Jupyter's `.ipynb_checkpoints/` beside the kit's notebooks)
never gets in.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path

from micokit.layout import write_zip_entries

from ..writes import replacing

JUNK = (".DS_Store", "__MACOSX", "__pycache__", ".ipynb_checkpoints")


def is_junk(relative: str) -> bool:
    parts = relative.split("/")
    return any(p in JUNK or p.startswith("._") or p.endswith(".pyc") for p in parts)


def tree_entries(root: Path, prefix: str = "") -> list[tuple[str, Path]]:
    """Every regular file under ``root`` as (archive name, path), junk excluded."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: folder to archive not found")
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            relative = path.relative_to(root).as_posix()
            if not is_junk(relative):
                entries.append((prefix + relative, path))
    return entries


def write_zip(target: Path, entries: Iterable[tuple[str, bytes | Path]]) -> Path:
    """Write ``target`` from (name, bytes or file path) pairs; atomic, deterministic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as tmp, open(tmp, "wb") as handle:
        write_zip_entries(handle, entries)
    return target


def zip_bytes(entries: Iterable[tuple[str, bytes | Path]]) -> bytes:
    """A deterministic zip in memory (for inner zips such as scoring_program.zip)."""
    buffer = io.BytesIO()
    write_zip_entries(buffer, entries)
    return buffer.getvalue()
