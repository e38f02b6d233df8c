"""Write errors that name their file: a full disk must say which file and that the disk is full.

Python raises a write error on an open handle without a file name, and numpy's ``tofile`` (under
``np.save``) raises ``OSError("<n> requested and <k> written")`` with no errno at all, so
"error: 115008 requested and 51168 written" was all an organizer saw of a full disk. Every
writer of bundles and exports wraps its writes in :func:`writing`.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def describe(error: OSError) -> str:
    """One line for a failed write: the file, then the problem in words."""
    where = f"{error.filename}: " if error.filename else ""
    if error.errno in FULL:
        return f"{where}disk full ({error.strerror}); free some space and run the command again"
    return f"{where}{error.strerror or error}"


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Re-raise any OSError of the block as one that names ``path``.

    A short write without an errno (numpy) is reported as ENOSPC: a regular file takes fewer
    bytes than requested only when the disk or the quota is full.
    """
    try:
        yield
    except OSError as error:
        if error.filename:
            raise
        code = error.errno if error.errno is not None else errno.ENOSPC
        strerror = error.strerror or ("No space left on device" if code == errno.ENOSPC else "")
        raise OSError(code, strerror or str(error), str(path)) from error


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` to write, renamed over ``path`` when the block ends.

    Readers, and a run killed halfway, see the old file or the new one, never half of one (the
    ``.tmp-`` name is what a kill leaves behind: see ``bundle.clear_outputs``); an error
    removes the temporary file and names ``path``.
    """
    tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(4)}"
    try:
        with writing(path):
            yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``path`` atomically (:func:`replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return path
