"""Reproducible zip archives: same inputs, byte-identical zips.

Entries are sorted, stamped 1980-01-01, given fixed permissions and compressed with a fixed
level, so that `SHA256SUMS` only changes when content does. Junk that desktop tools add
(`__MACOSX/`, `.DS_Store`, `._*`, Jupyter's `.ipynb_checkpoints/` beside the kit's notebooks)
never gets in.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from .writes import replacing

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
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


def _write_entries(fileobj, entries: Iterable[tuple[str, bytes | Path]]) -> None:
    with zipfile.ZipFile(fileobj, "w") as archive:
        for name, content in sorted(entries, key=lambda e: e[0]):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3  # Unix, so the permission bits above are honoured
            data = content.read_bytes() if isinstance(content, Path) else content
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def write_zip(target: Path, entries: Iterable[tuple[str, bytes | Path]]) -> Path:
    """Write ``target`` from (name, bytes or file path) pairs; atomic, deterministic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with replacing(target) as tmp, open(tmp, "wb") as handle:
        _write_entries(handle, entries)
    return target


def zip_bytes(entries: Iterable[tuple[str, bytes | Path]]) -> bytes:
    """A deterministic zip in memory (for inner zips such as scoring_program.zip)."""
    buffer = io.BytesIO()
    _write_entries(buffer, entries)
    return buffer.getvalue()
