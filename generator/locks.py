"""Advisory locks that let several runs share one store and one bundle folder safely.

Two kinds, both ``flock(2)`` locks on small files next to what they protect:

- A **model claim** (``<scenario>/<phase>/.claim-model_<i>``, exclusive, never waited for by
  a trainer) says "this run is training model i". A second ``generate`` on the same store
  skips claimed models and trains the others, so both runs share the work instead of training
  every model twice; it comes back to the claimed ones at the end (:func:`wait_for_claim`) and
  trains only those the holder did not finish. Leftover ``.tmp-`` folders of a model are
  removed only by whoever holds its claim, so a sweep never deletes another run's work.
- A **store lock** (``<store>/.lock``): every ``generate`` holds it shared for its whole run;
  ``export`` and ``bundle`` hold it exclusive while they read models, so no model can be
  trained or swapped in (``--retrain-stale``) between the public export and the reference
  export of the same model. The same exclusive lock guards a bundle folder (``<out>/.lock``).

The kernel drops a ``flock`` when its holder exits, however it exits (``kill -9``, OOM), so a
crashed run never leaves a lock behind that someone must delete by hand. Locks are advisory:
they protect against our own runs, not against a hand edit. On a cluster the store must be on
a file system whose clients share ``flock`` (local disks, NFSv4, Lustre with ``flock``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLAIM_PREFIX = ".claim-"
LOCK_NAME = ".lock"


def claim_path(model_dir: Path) -> Path:
    """The claim file of the model whose final folder is ``model_dir``."""
    return model_dir.parent / f"{CLAIM_PREFIX}{model_dir.name}"


def _holder_text() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def holder(path: Path) -> str:
    """Who last took the lock at ``path`` ("pid N on host"), or "another run" if unknown."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "another run"


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _sign(fd: int) -> None:
    """Write who holds the lock into its file, for the other run's message."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, (_holder_text() + "\n").encode(), 0)


class Claim:
    """An exclusive model claim; release it with :meth:`release` (or use it as a context).

    Releasing deletes the claim file, while still holding the lock, so a store whose runs all
    ended keeps no claim files; :func:`_lock_claim` re-opens a file deleted under it.
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self.fd = fd
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self.path.unlink(missing_ok=True)
            finally:
                os.close(self.fd)  # closing drops the flock

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lock_claim(path: Path, wait: bool) -> Claim | None:
    """Lock the claim file at ``path``; None if ``wait`` is false and another run holds it.

    A holder deletes the file when it lets go, so the file we locked may no longer be the one
    at ``path``: then lock again, until the locked file is the one the path names.
    """
    while True:
        fd = _open(path)
        if wait:
            fcntl.flock(fd, fcntl.LOCK_EX)
        elif not _try_flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return Claim(path, fd)
        os.close(fd)


def try_claim(model_dir: Path) -> Claim | None:
    """Claim the model at ``model_dir`` for this process, or None if another run holds it."""
    claim = _lock_claim(claim_path(model_dir), wait=False)
    if claim is not None:
        _sign(claim.fd)
    return claim


def is_claimed(model_dir: Path) -> bool:
    """Whether a live run is training the model at ``model_dir`` now; changes nothing."""
    try:
        fd = os.open(claim_path(model_dir), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return not _try_flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def wait_for_claim(model_dir: Path) -> None:
    """Block until no run holds the claim of ``model_dir`` (then let it go at once)."""
    claim = _lock_claim(claim_path(model_dir), wait=True)
    claim.release()


@contextmanager
def folder_lock(folder: Path, shared: bool, purpose: str) -> Iterator[None]:
    """Hold ``<folder>/.lock`` shared or exclusive for the ``with`` block; wait if need be.

    Waiting says once, on stderr, who holds it, so a run that seems idle explains itself; the
    wait ends when the holder finishes or is killed.
    """
    path = folder / LOCK_NAME
    fd = _open(path)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not _try_flock(fd, mode):
            who = holder(path) if shared else "another run"
            message = f"waiting: {folder} is in use by {who}; {purpose} starts when it is done"
            print(message, file=sys.stderr, flush=True)
            fcntl.flock(fd, mode)
        if not shared:
            _sign(fd)
        yield
    finally:
        os.close(fd)
