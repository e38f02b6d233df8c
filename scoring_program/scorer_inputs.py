"""Reading reference data and submissions safely, with one clear message per problem.

The layouts are defined in docs/layouts.md. The reference data decide which task, scenarios,
phases, models and how many challenge points there are; the submission is trusted for nothing
but its prediction values. Participant-controlled input is never followed through a symbolic
link, never extracted, and never read past the size that a valid prediction file could have.
Messages about reference files never repeat their values (they are the hidden labels).
"""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
import scorer_disclosure

MANIFEST_NAME = "manifest.json"
REFERENCE_FORMAT = "mico-reference/1"
SOLUTION_NAME = "solution.csv"
PREDICTION_NAMES = ("prediction.csv", "predictions.csv")

MAX_BYTES_PER_VALUE = 64
"""A score needs at most ~26 bytes (``%.18e`` plus CRLF); a file far beyond is refused."""
SLACK_BYTES = 4096
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 200000
MAX_SHOWN_PROBLEMS = 10
MAX_DEPTH = 16
"""Folders a path may have; the deepest valid layout has six (extra/task/scenario/phase/model)."""
MAX_PATH_BYTES = 1024
"""Longest path read, in bytes; the longest valid one is about 100."""
NAME_MAX_BYTES = 255
"""Linux's NAME_MAX (ext4, overlayfs): a longer file name cannot be created."""
MAX_TOTAL_BYTES = 1 << 30
"""Largest sum of a submission's file sizes; a valid one is a few MB. Capped in a zip before
anything is decompressed and in an extracted folder alike."""
PLATFORM_FAILS = "would fail to extract on the platform"
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
"""Compression methods read. zipfile decompresses bzip2 and LZMA in chunks with no size cap (a
16 KB bzip2 entry grew to 6 GB), deflate honours the read limit; every common zip tool writes
deflate. Refused in a zip both locally and in micokit, so the two give the same answer."""
DEFAULT_DELTA = 1e-5

IGNORED_NAMES = (".DS_Store", "Thumbs.db", "desktop.ini")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_NUMBER = re.compile(rb"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BOM = b"\xef\xbb\xbf"
_TO_SPACE = bytes.maketrans(b",\t\r\x0b\x0c", b"     ")
"""Every separator ``bytes.split`` also splits at (ASCII whitespace) plus the comma becomes a
blank, so the token and line counts of the two-column guard see what the parser reads."""
_WIDE_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
_ALLOWED = b"0123456789.eE+- \n"
_CHUNK = 1 << 22
_UTF8_NAME = 0x800  # general purpose flag bit 11: the name is UTF-8 (else cp437)
_ENCRYPTED = 0x1
_CENTRAL_HEADER = 46  # fixed part of a central directory header (zipfile.sizeCentralDir)


# --- errors ----------------------------------------------------------------------------------


class ScoringError(Exception):
    """A problem the scorer explains to a person; never shown as a traceback."""

    prefix = "error"
    exit_code = 3

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems) or ["unknown problem"]
        Exception.__init__(self, self.render())

    def render(self) -> str:
        """The first few problems and a count of the rest, so one bad zip is not 900 lines."""
        total = len(self.problems)
        shown = self.problems[:MAX_SHOWN_PROBLEMS]
        if total == 1:
            return f"{self.prefix}: {shown[0]}"
        head = f"{self.prefix}: {total} problems found"
        if total > len(shown):
            head += f" (showing the first {len(shown)})"
        lines = [head] + ["  - " + p for p in shown]
        rest = total - len(shown)
        if rest:
            lines.append(f"  ... and {rest} more problem{'' if rest == 1 else 's'}")
        return "\n".join(lines)


class SubmissionError(ScoringError):
    """The participant's submission is unusable; exit status 1."""

    prefix = "submission error"
    exit_code = 1


class ReferenceDataError(ScoringError):
    """The organizer's reference data are broken; exit status 2."""

    prefix = "reference data error (organizer)"
    exit_code = 2


# --- file trees: a directory or a zip, read without extracting --------------------------------


class Entry:
    """One regular file of a tree: its path parts, size, and a bounded reader.

    ``exact`` says whether ``size`` is the real size (a folder's file) or only what a zip
    member declares: extraction writes what the data hold, whatever the header says.
    """

    __slots__ = ("_read", "display", "exact", "parts", "size")

    def __init__(
        self,
        parts: tuple[str, ...],
        display: str,
        size: int,
        read: Callable[[int], bytes],
        exact: bool = True,
    ) -> None:
        self.parts = parts
        self.display = display
        self.size = size
        self._read = read
        self.exact = exact

    def read(self, limit: int) -> bytes:
        """At most ``limit + 1`` bytes, so a size that lied is caught without reading it all."""
        return self._read(limit)


class _Unread:
    """Zip members extraction reads that scoring has not read to their end, and the bytes
    the members read so far held."""

    def __init__(self, members: dict[str, zipfile.ZipInfo]) -> None:
        self.members = members
        self.extracted = list(members.values())
        self.total = 0

    def done(self, info: zipfile.ZipInfo, size: int) -> None:
        if self.members.get(info.filename) is info:
            del self.members[info.filename]
            self.total += size


class Tree:
    """The files of a submission or reference; a context manager that closes its zip.

    For a zip, ``verify`` reads what scoring did not, the way the platform's extraction does.
    """

    def __init__(
        self,
        entries: list[Entry],
        archive: zipfile.ZipFile | None = None,
        unread: _Unread | None = None,
        error_class: type[ScoringError] | None = None,
    ) -> None:
        self.entries = entries
        self._archive = archive
        self._unread = unread or _Unread(OrderedDict())
        self._error_class = error_class or ScoringError

    def verify(self) -> None:
        """Decompress and check (CRC-32) every zip member the platform extracts but scoring
        did not read to its end; raise the tree's error class if one would fail to extract,
        or if the files hold more than ``MAX_TOTAL_BYTES`` (counted as they come, since the
        sizes in a zip's headers may lie, and extraction writes what the data hold).

        Called only once the submission is otherwise valid; memory stays flat, a chunk at a
        time, and reading stops once the total is over the cap.
        """
        if self._archive is None:
            return
        problems = _overlap_problems(self._archive, self._unread.extracted)
        for name, info in list(self._unread.members.items()):
            budget = MAX_TOTAL_BYTES - self._unread.total
            size, problem = _member_size(self._archive, info, budget)
            if problem:
                problems.append(f"{PLATFORM_FAILS}: {show(name)} {problem}")
            self._unread.done(info, size)
            total = _total_problem(self._unread.total)
            if total:
                problems.append(total)
                break
        if problems:
            raise self._error_class(problems)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def show(path: str) -> str:
    """A participant path, quoted and shortened, safe to print."""
    text = path if len(path) <= 160 else path[:80] + "..." + path[-70:]
    return repr(text)


def archive_parts(name: str) -> tuple[str, ...]:
    """Path parts of a zip member as the platform's extraction names the file it writes.

    Both workers extract with ``ZipFile.extractall`` (competitions-v1-compute-worker worker.py
    ``get_bundle``: Python 2.7; codabench compute_worker/compute_worker.py
    ``Run._get_bundle``: Python 3.13), and ``ZipFile._extract_member`` (same code in both)
    on Linux splits the name at '/' only, so a backslash stays part of a file name, and drops
    '', '.' and '..' parts, so an absolute or '..' path lands inside the folder.
    """
    return tuple(p for p in name.split("/") if p not in ("", ".", ".."))


def path_problem(parts: tuple[str, ...], encoded: list[bytes]) -> str | None:
    """What the scorer refuses in a path, in a zip and in an extracted folder alike.

    ``encoded`` holds each part as the file system stores it. Both caps are the scorer's own,
    far beyond any valid layout (six levels, short names) and far below Linux's PATH_MAX with
    the workers' folder prefix, so the platform extracts such a path and the scorer then
    refuses it in either mode.
    """
    if len(parts) > MAX_DEPTH + 1:
        return f"more than {MAX_DEPTH} folders deep"
    total = sum(len(p) + 1 for p in encoded) - 1
    if total > MAX_PATH_BYTES:
        return f"the path is {total} bytes long, more than the scorer reads ({MAX_PATH_BYTES})"
    return None


def _total_problem(total: int) -> str | None:
    if total > MAX_TOTAL_BYTES:
        return f"the submission's files hold {total} bytes, more than {MAX_TOTAL_BYTES}"
    return None


def list_directory(root: str, trusted: bool = False) -> tuple[list[Entry], list[str]]:
    """Regular files under ``root``; links are problems unless the tree is ``trusted``.

    Only the organizer's reference data are trusted (they may link into a store).
    """
    entries: list[Entry] = []
    problems: list[str] = []
    # An explicit stack, not os.walk: os.walk recurses on Python < 3.12, and a folder 1,200
    # levels deep (which the platform's extraction creates happily) hit the recursion limit.
    pending = [(root, ".", 0)]
    while pending:
        here, rel_here, depth = pending.pop()
        try:
            names = sorted(os.listdir(here))
        except OSError as exc:
            problems.append(f"{show(rel_here)} cannot be listed ({exc.strerror or exc})")
            continue
        folders = []
        for name in names:
            full, rel = os.path.join(here, name), _rel(rel_here, name)
            if os.path.isdir(full) and (trusted or not os.path.islink(full)):
                folders.append((full, rel))
                continue
            entry, problem = _directory_entry(here, rel, name, trusted)
            if problem:
                problems.append(problem)
            elif entry is not None:
                entries.append(entry)
        if folders and depth >= MAX_DEPTH:
            problems.append(f"{show(folders[0][1])}: more than {MAX_DEPTH} folders deep")
            folders = []
        pending.extend((full, rel, depth + 1) for full, rel in reversed(folders))
        if len(entries) > MAX_ENTRIES:
            return entries, [f"more than {MAX_ENTRIES} files"]
    if not trusted:
        total = _total_problem(sum(e.size for e in entries))
        if total:
            problems.append(total)
    return entries, problems


def _rel(rel_here: str, name: str) -> str:
    path = name if rel_here in ("", ".") else os.path.join(rel_here, name)
    return path.replace(os.sep, "/")


def _directory_entry(
    here: str, rel: str, name: str, trusted: bool
) -> tuple[Entry | None, str | None]:
    full = os.path.join(here, name)
    info = os.stat(full) if trusted else os.lstat(full)
    if stat.S_ISLNK(info.st_mode):
        return None, f"{show(rel)} is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{show(rel)} is not a regular file"
    parts = tuple(rel.split("/"))
    why = path_problem(parts, [os.fsencode(p) for p in parts])
    if why:
        return None, f"{show(rel)}: {why}"
    return Entry(parts, rel, info.st_size, _file_reader(full, trusted)), None


def _file_reader(full: str, trusted: bool) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        flags = os.O_RDONLY | (0 if trusted else getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(os.open(full, flags), "rb") as handle:
            return handle.read(limit + 1)

    return read


# Errors zipfile raises on a damaged zip or member, across Python 3.7-3.13 (struct.error and
# IndexError come out of _RealGetContents and _decodeExtra on a mangled extra field).
_ZIP_ERRORS = (
    zipfile.BadZipfile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
    zlib.error,
)


def open_zip(path: str, error_class: type[ScoringError]) -> Tree:
    """Regular files of a zip as the platform's extraction would leave them, read in place.

    Every rule of ``ZipFile.extractall`` that decides what the platform's worker ends up with
    (see ``archive_parts`` and ``_plan_extraction``) is applied here, so that a zip passes
    ``micokit validate`` exactly when the platform extracts it and scores the result.
    """
    if not os.path.isfile(path):
        raise error_class([f"{show(path)} does not exist or is not a file"])
    if not zipfile.is_zipfile(path):
        raise error_class([f"{show(os.path.basename(path))} is not a zip file"])
    declared, walked = _central_directory_count(path)
    if declared > MAX_ENTRIES:
        raise error_class([f"the zip declares {declared} entries, more than {MAX_ENTRIES}"])
    if walked > MAX_ENTRIES:
        raise error_class([f"the zip has more than {MAX_ENTRIES} entries"])
    try:
        archive = zipfile.ZipFile(path)
    # NotImplementedError: a "version needed to extract" zipfile does not know (_RealGetContents).
    except _ZIP_ERRORS as exc:
        reason = _zip_error_text(exc)
        raise error_class([f"{show(path)} is not a readable zip file ({reason})"]) from None
    try:
        entries, unread = _plan_extraction(archive, error_class)
        return Tree(entries, archive, unread, error_class)
    except BaseException:
        archive.close()
        raise


def _central_directory_count(path: str) -> tuple[int, int]:
    """Members the central directory declares, and those it holds (up to ``MAX_ENTRIES + 1``),
    counted without parsing it; 0 where it cannot be read.

    ``zipfile.ZipFile`` builds a ZipInfo for every member before anything can refuse the
    zip: a million-member directory took 578 MB and 13 s. The count sits in the end of
    central directory record (or its zip64 twin), which zipfile's own ``_EndRecData`` finds;
    a count can lie, and ``_RealGetContents`` reads members until the directory's declared
    size is used up, so the directory is walked the same way, header by header, stopping
    just past ``MAX_ENTRIES``. Anything malformed is left for ``ZipFile`` to report.
    """
    try:
        with open(path, "rb") as handle:
            endrec = zipfile._EndRecData(handle)
            if endrec is None:
                return 0, 0
            declared = max(
                endrec[zipfile._ECD_ENTRIES_TOTAL], endrec[zipfile._ECD_ENTRIES_THIS_DISK]
            )
            if declared > MAX_ENTRIES:
                return declared, 0
            size = endrec[zipfile._ECD_SIZE]
            start = endrec[zipfile._ECD_LOCATION] - size
            if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
                start -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
            return declared, _walk_central_directory(handle, max(start, 0), size)
    except (OSError, ValueError, OverflowError, struct.error, zipfile.BadZipfile):
        return 0, 0


def _walk_central_directory(handle: BinaryIO, start: int, size: int) -> int:
    handle.seek(start)
    count = used = 0
    while used < size and count <= MAX_ENTRIES:
        header = handle.read(_CENTRAL_HEADER)
        if len(header) != _CENTRAL_HEADER or header[:4] != zipfile.stringCentralDir:
            break
        name, extra, comment = struct.unpack("<HHH", header[28:34])
        handle.seek(name + extra + comment, os.SEEK_CUR)
        used += _CENTRAL_HEADER + name + extra + comment
        count += 1
    return count


def _plan_extraction(
    archive: zipfile.ZipFile, error_class: type[ScoringError]
) -> tuple[list[Entry], _Unread]:
    """The files ``extractall`` leaves, as entries, and the members it would read.

    ``extractall`` walks ``namelist()`` in order and opens each name through ``getinfo``, so
    of two members with one name the last is written both times; a later member written to
    the same path replaces the file (the last one wins). A member fails to extract, and the
    platform's worker with it, when its name is empty once cleaned, has a part Linux refuses,
    needs a folder where a file is (or a file where a folder is), or cannot be decompressed.
    """
    infos = archive.infolist()
    last = OrderedDict((info.filename, info) for info in infos)
    problems: list[str] = []
    seen: set[str] = set()
    kinds: dict[tuple[str, ...], bool] = {}  # path -> written as a folder
    written: dict[tuple[str, ...], zipfile.ZipInfo] = OrderedDict()
    for member in infos:
        info = last[member.filename]
        problem = _member_problem(info, kinds)
        if problem and problem not in seen:
            seen.add(problem)
            problems.append(problem)
        elif not problem and not _is_folder(info):
            parts = archive_parts(info.filename)
            written.pop(parts, None)
            written[parts] = info
    problems += [_METADATA_PROBLEM.format(show("/".join(p))) for p in written if _is_metadata(p)]
    if problems:
        raise error_class(problems)
    unread = _Unread(OrderedDict((n, i) for n, i in last.items() if not _is_folder(i)))
    entries = [
        Entry(parts, "/".join(parts), info.file_size, _zip_reader(archive, info, unread), False)
        for parts, info in written.items()
    ]
    return entries, unread


# CodaLab's worker does more than extract a submission (competitions-v1-compute-worker
# worker.py ``get_bundle``): a top-level folder holding a file named ``metadata`` replaces the
# whole submission (``_find_only_folder_with_metadata``), and a top-level ``metadata`` is read
# as YAML whose string values are fetched as URLs. Either way the predictions beside it may be
# lost, so a participant's zip must hold no file of that name (the one the platform itself
# writes into an extracted folder is ignored there, see ``_is_ignored``).
_METADATA_PROBLEM = (
    "{}: a file named 'metadata' changes how CodaLab unpacks a submission (it keeps only the "
    "folder holding it, or fetches what it lists); remove or rename it"
)


def _is_metadata(parts: tuple[str, ...]) -> bool:
    """At the top or one folder down: where ``get_bundle`` looks (deeper ones are inert)."""
    return parts[-1] == "metadata" and len(parts) <= 2


def _is_folder(info: zipfile.ZipInfo) -> bool:
    """``ZipInfo.is_dir``: a name ending in '/' (Python 3.7's version fails on an empty name)."""
    return info.filename[-1:] == "/"


def _member_problem(info: zipfile.ZipInfo, kinds: dict[tuple[str, ...], bool]) -> str | None:
    """Why extracting this member fails or is refused; else records what it writes."""
    name = info.filename
    parts = archive_parts(name)
    folder = _is_folder(info)
    if not parts and not folder:
        # _extract_member: "Empty filename." on 3.13, a folder opened for writing on 2.7.
        return f"{PLATFORM_FAILS}: {show(name)} has no file name once '/', '.' and '..' go"
    encoded = [p.encode("utf-8") for p in parts]  # Python 3's file names; 2.7 writes fewer
    longest = max((len(p) for p in encoded), default=0)
    if longest > NAME_MAX_BYTES:  # open() and mkdir() fail with ENAMETOOLONG
        return (
            f"{PLATFORM_FAILS}: {show(name)} has a name of {longest} bytes; Linux allows at "
            f"most {NAME_MAX_BYTES}"
        )
    why = path_problem(parts, encoded)
    if why:
        return f"{show(name)}: {why}"
    if info.flag_bits & _UTF8_NAME and not name.isascii():
        # CodaLab's worker image (Ubuntu 18.04, no locale) runs Python 2.7 with an ASCII file
        # system encoding: a name flagged UTF-8 becomes unicode and cannot be written.
        return (
            f"{PLATFORM_FAILS}: {show(name)} is not an ASCII name (CodaLab's worker writes "
            "ASCII names only)"
        )
    for depth in range(1, len(parts)):
        if kinds.get(parts[:depth]) is False:
            where = show("/".join(parts[:depth]))
            return f"{PLATFORM_FAILS}: {show(name)} needs a folder {where}, which is a file"
    if parts and parts in kinds and kinds[parts] != folder:
        other = "a folder" if kinds[parts] else "a file"
        return f"{PLATFORM_FAILS}: {show(name)} has the same name as {other} in the zip"
    if not folder:
        if info.compress_type not in ZIP_METHODS:
            return (
                f"{show(name)} is compressed with method {info.compress_type}; only stored and "
                "deflate (what zip tools write by default) are read"
            )
        if info.flag_bits & _ENCRYPTED:
            return f"{show(name)} is encrypted; submit an unencrypted zip"
    for depth in range(1, len(parts)):
        kinds[parts[:depth]] = True
    if parts:
        kinds[parts] = folder
    return None


def _zip_reader(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, unread: _Unread
) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
        if len(data) <= limit:
            unread.done(info, len(data))  # read to its end: zipfile checked its CRC-32
        return data

    return read


def _overlap_problems(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> list[str]:
    """Members whose data run into the next member, which Codabench's Python 3.13 refuses.

    Python >= 3.12 gives each member the offset where the next local header (or the central
    directory) starts (zipfile ``_RealGetContents``, members sorted by header offset) and
    ``ZipFile.open`` raises "Overlapped entries" when the data reach past it; older Pythons,
    this scorer's included, read on. Checked here the same way, from the local headers.
    """
    ends: dict[int, int] = {}
    end = getattr(archive, "start_dir", None)
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset, reverse=True):
        if end is not None:
            ends[id(info)] = end
        end = info.header_offset
    problems: list[str] = []
    try:
        with open(archive.filename, "rb") as raw:
            for info in members:
                raw.seek(info.header_offset)
                header = raw.read(30)
                if len(header) != 30 or id(info) not in ends:
                    continue  # zipfile's own reading reports a damaged header
                name, extra = struct.unpack("<HH", header[26:30])
                data_end = info.header_offset + 30 + name + extra + info.compress_size
                if data_end > ends[id(info)]:
                    problems.append(
                        f"{PLATFORM_FAILS}: {show(info.filename)} overlaps the next member "
                        "(Python 3.12+ refuses that as a possible zip bomb)"
                    )
    except (OSError, TypeError):
        pass  # unreadable headers: zipfile's own reading reports them
    return problems


def _member_size(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int
) -> tuple[int, str | None]:
    """Bytes the member decompresses to (reading stops just past ``budget``), and why it
    cannot be read to its end, as ``_extract_member``'s copy reads it."""
    size = 0
    try:
        with archive.open(info) as handle:
            while size <= budget:
                chunk = handle.read(min(_CHUNK, budget - size + 1))
                if not chunk:
                    break
                size += len(chunk)
    except _ZIP_ERRORS as exc:
        return size, f"cannot be read: {_zip_error_text(exc)}"
    return size, None


_ZIPINFO_REPR = re.compile(r"<ZipInfo [^>]*>")


def _zip_error_text(exc: BaseException) -> str:
    """What went wrong in plain words: no ZipInfo repr, no second copy of the member name."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if "encrypted" in text or "password" in text:
        return "it is encrypted; submit an unencrypted zip"
    if "CRC" in text:
        return "its data are damaged (the CRC-32 checksum does not match)"
    if isinstance(exc, (zlib.error, EOFError)):
        return "its compressed data are damaged"
    text = _ZIPINFO_REPR.sub("the member", text)
    text = re.sub(r" (for|of) file '[^']*'| '[^']*'$", "", text)
    return text[:200]


def open_tree(path: str, error_class: type[ScoringError], trusted: bool = False) -> Tree:
    """A directory or a zip file; unsafe entries abort with ``error_class``."""
    if os.path.isdir(path):
        entries, problems = list_directory(path, trusted)
        if problems:
            raise error_class(problems)
        return Tree(entries)
    return open_zip(path, error_class)


def size_limit(count: int) -> int:
    """Largest acceptable file for ``count`` values."""
    return MAX_BYTES_PER_VALUE * count + SLACK_BYTES


def read_entry(entry: Entry, limit: int, what: str) -> bytes:
    """Read a file whose valid form is at most ``limit`` bytes; refuse larger ones unread.

    Messages do not name the file: every caller puts its path in front, once.
    """
    if entry.exact and entry.size > limit:
        raise ValueError(
            f"the file is {entry.size} bytes, far larger than any valid {what} (at most "
            f"{limit} bytes); it was not read"
        )
    try:
        data = entry.read(limit)
    except _ZIP_ERRORS as exc:
        raise ValueError(f"the file could not be read: {_zip_error_text(exc)}") from None
    if len(data) > limit:
        raise ValueError(
            f"the file holds more than {limit} bytes, far larger than any valid {what}; "
            "reading stopped there"
        )
    return data


# --- parsing numbers -------------------------------------------------------------------------


def parse_values(data: bytes, echo: bool = True) -> np.ndarray:
    """Numbers separated by newlines, commas or blanks (CRLF and a BOM are fine), as float64.

    A fast path (byte translation, a character whitelist, a vectorised syntax check and
    ``np.fromstring``) handles valid files at C speed; anything it does not accept is re-read
    token by token, which names the first bad value and its line. ``echo=False`` keeps the
    offending text out of the message, for files whose content must stay secret.

    The syntax check is what makes every numpy >= 1.17 give the same answer: numpy 1.17 reads
    a malformed last value as far as it makes sense ('0.75.3' -> 0.75, '0.5e' -> 0.5) without
    a warning, numpy 1.18 warns and numpy 2 refuses. Here ``np.fromstring`` only ever converts
    well-formed numbers, and the message for a bad one comes from the token-by-token reader.
    """
    wide = _wide_encoding(data)
    if wide:
        raise ValueError(f"the file is {wide} text; save it as UTF-8 or ASCII")
    if data[: len(_BOM)] == _BOM:
        data = data[len(_BOM) :]
    text = data.translate(_TO_SPACE)
    del data
    count = _count_tokens(text)
    if count == 0:
        raise ValueError("the file is empty (no values)")
    lines = _count_lines(text)
    if lines > 1 and lines != count:
        # Two columns of 50 rows would otherwise be read as 100 interleaved values.
        raise ValueError(
            f"{count} values on {lines} lines: write one value per line (or all on one line)"
        )
    if text.translate(None, _ALLOWED) or not _well_formed(text):
        return _slow_parse(text, echo)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        return _slow_parse(text, echo)
    if values.size != count:
        return _slow_parse(text, echo)
    return values


def _wide_encoding(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" for text saved so (Windows editors and PowerShell's ``>`` write
    UTF-16): by its byte order mark, or without one by its share of NUL bytes (one in two
    for UTF-16 digits, three in four for UTF-32). Read as bytes it would only be garbage."""
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            return name
    head = data[:4096]
    nuls = head.count(0)
    if head and nuls * 5 >= len(head) * 3:
        return "UTF-32"
    if head and nuls * 10 >= len(head) * 3:
        return "UTF-16"
    return None


def parse_binary(data: bytes) -> np.ndarray | None:
    """Labels of a file made only of single-digit 0/1 tokens, as booleans; else None.

    Solution files have exactly this form, and reading them byte-wise is ten times faster
    than parsing floats; anything else goes through ``parse_values``.
    """
    if data[: len(_BOM)] == _BOM:
        data = data[len(_BOM) :]
    text = data.translate(_TO_SPACE)
    if text.translate(None, b"01 \n"):
        return None
    buf = np.frombuffer(text, dtype=np.uint8)
    digits = buf[(buf == 48) | (buf == 49)]
    if digits.size == 0 or digits.size != _count_tokens(text):
        return None
    return digits == 49


def _count_lines(text: bytes) -> int:
    """Lines holding at least one value (blank lines do not count)."""
    return _count_runs(text, separators=(10,), ignored=32)


def _count_tokens(text: bytes) -> int:
    """Whitespace-separated tokens."""
    return _count_runs(text, separators=(32, 10))


def _count_runs(text: bytes, separators: tuple, ignored: int | None = None) -> int:
    """Runs of bytes other than ``separators`` (``ignored`` bytes dropped first), in chunks.

    Counting in chunks keeps memory flat on a 10-million-value file; the run that straddles a
    chunk border is counted once because the last byte of each chunk is carried over.
    """
    buf = np.frombuffer(text, dtype=np.uint8)
    count = 0
    after_separator = True  # the start of the file starts a run
    for start in range(0, buf.size, _CHUNK):
        chunk = buf[start : start + _CHUNK]
        if ignored is not None:
            chunk = chunk[chunk != ignored]
            if chunk.size == 0:
                continue
        is_sep = np.isin(chunk, separators)
        starts = ~is_sep
        starts[1:] &= is_sep[:-1]
        starts[0] &= after_separator
        count += int(np.count_nonzero(starts))
        after_separator = bool(is_sep[-1])
    return count


# Byte classes for the syntax check; every byte outside _ALLOWED was refused before it runs.
_SEP, _DIGIT, _DOT, _SIGN, _EXP, _OTHER = range(6)
_CLASS = np.full(256, _OTHER, dtype=np.uint8)
_CLASS[[32, 10]] = _SEP
_CLASS[np.arange(48, 58)] = _DIGIT
_CLASS[46] = _DOT
_CLASS[[43, 45]] = _SIGN
_CLASS[[101, 69]] = _EXP


def _well_formed(text: bytes) -> bool:
    """Whether every blank-separated token of ``text`` matches ``_NUMBER``, at numpy speed.

    ``text`` holds only the bytes of ``_ALLOWED``. It is checked in chunks of about
    ``_CHUNK`` bytes that end after a separator, so no token is cut and memory stays flat.
    """
    start = 0
    while start < len(text):
        stop = _chunk_end(text, start)
        chunk = np.frombuffer(text, dtype=np.uint8, count=stop - start, offset=start)
        if not _chunk_well_formed(chunk):
            return False
        start = stop
    return True


def _chunk_end(text: bytes, start: int) -> int:
    """End of the chunk from ``start``: just after the last separator within ``_CHUNK`` bytes
    (or after the first one beyond, for a token longer than that), or the end of the text."""
    end = start + _CHUNK
    if end >= len(text):
        return len(text)
    cut = max(text.rfind(b" ", start, end), text.rfind(b"\n", start, end))
    if cut < 0:
        found = [i for i in (text.find(b" ", end), text.find(b"\n", end)) if i >= 0]
        return min(found) + 1 if found else len(text)
    return cut + 1


def _chunk_well_formed(buf: np.ndarray) -> bool:
    """The syntax check of whole tokens, looking only at their dots, signs and exponent marks.

    A token of digits, dots, signs and exponent marks is a number exactly when

    * a sign comes first and is followed by a digit or a dot, or directly follows the exponent
      mark and is followed by a digit;
    * an exponent mark follows a digit or a dot and is followed by a digit or a sign;
    * a dot follows a digit, or comes first (after an optional sign) and is followed by a digit;
    * of two dots or exponent marks in one token, the first is a dot and the second an
      exponent mark (so a token has at most one of each, the dot first).

    The mantissa then holds a digit, and the exponent, if any, ends in digits: this is
    ``_NUMBER``, which the tests check against Python's ``float`` on every short token.
    """
    at = np.flatnonzero((buf - 48) > 9)  # every byte that is not a digit
    if at.size == 0:
        return True
    kind = _CLASS[buf[at]]
    rare = at[kind != _SEP]
    if rare.size == 0:
        return True
    last = buf.size - 1
    here = _CLASS[buf[rare]]
    prev = np.where(rare > 0, _CLASS[buf[np.maximum(rare - 1, 0)]], _SEP)
    after = np.where(rare < last, _CLASS[buf[np.minimum(rare + 1, last)]], _SEP)
    sign_ok = ((prev == _SEP) & ((after == _DIGIT) | (after == _DOT))) | (
        (prev == _EXP) & (after == _DIGIT)
    )
    exp_ok = ((prev == _DIGIT) | (prev == _DOT)) & ((after == _DIGIT) | (after == _SIGN))
    dot_ok = (prev == _DIGIT) | (((prev == _SEP) | (prev == _SIGN)) & (after == _DIGIT))
    ok = np.where(here == _SIGN, sign_ok, np.where(here == _EXP, exp_ok, dot_ok))
    if not np.all(ok):
        return False
    # Dots, exponent marks and separators in file order: two marks side by side are in one
    # token, and only a dot followed by an exponent mark may be.
    marks = kind[kind != _SIGN]
    first, second = marks[:-1], marks[1:]
    twice = (first != _SEP) & (second != _SEP) & ~((first == _DOT) & (second == _EXP))
    return not np.any(twice)


def _slow_parse(text: bytes, echo: bool) -> np.ndarray:
    """Token-by-token reading: names the first bad token, or parses a file numpy refused."""
    values: list[float] = []
    for line_no, line in enumerate(text.split(b"\n"), 1):
        for token in line.split():
            if not _NUMBER.match(token):
                raise ValueError(_bad_token(token, line_no, len(values) + 1, echo))
            values.append(float(token))
    return np.array(values, dtype=np.float64)


def _bad_token(token: bytes, line_no: int, index: int, echo: bool) -> str:
    where = f"line {line_no} (value #{index})"
    if not echo:
        return f"{where} is not a number"
    bare = token.lower().lstrip(b"+-")
    if bare == b"nan":
        return f"{where} is NaN; scores must be finite numbers in [0, 1]"
    if bare in (b"inf", b"infinity"):
        return f"{where} is infinite; scores must be finite numbers in [0, 1]"
    shown = token[:30].decode("utf-8", "replace")
    return f"{where}: {shown!r} is not a number"


# --- reference data --------------------------------------------------------------------------


class Scenario:
    """One scenario of the manifest; its position (1-based) is k in ``scenario<k>_...``."""

    __slots__ = ("delta", "epsilon", "id", "label", "models")

    def __init__(
        self,
        sid: str,
        label: str,
        epsilon: float | None,
        delta: float,
        models: dict[str, dict[str, int]],
    ) -> None:
        self.id = sid
        self.label = label
        self.epsilon = epsilon
        self.delta = delta
        self.models = models


class Reference:
    """What the scorer knows: the manifest and, when scoring, the labels per scenario."""

    __slots__ = ("disclosure", "labels", "phase", "scenarios", "task")

    def __init__(
        self,
        task: str,
        phase: str | None,
        scenarios: list[Scenario],
        disclosure: scorer_disclosure.Disclosure | None = None,
    ) -> None:
        self.task = task
        self.phase = phase
        self.scenarios = scenarios
        # What a submission scored on this phase may show (None: everything), from the
        # manifest's "disclosure"; score.py sends every output through it.
        self.disclosure = disclosure
        self.labels: dict[str, np.ndarray] = OrderedDict()

    def phases(self) -> list[str]:
        """Every phase a submission must contain, scored phase first."""
        seen = [self.phase] if self.phase else []
        for scenario in self.scenarios:
            seen.extend(p for p in scenario.models if p not in seen)
        return seen


def load_reference(path: str, with_solutions: bool = True) -> Reference:
    """Read and check the manifest (and the scored phase's solutions) of a reference.

    ``path`` is a directory, a zip of one, or a manifest.json file; manifest.json may sit at
    the root or inside one wrapping folder. With ``with_solutions=False`` (validation by
    participants) only the manifest's task, scenarios and model counts are needed.
    """
    if os.path.isfile(path) and path.endswith(".json"):
        with open(path, "rb") as handle:
            return _parse_manifest(handle.read(MAX_MANIFEST_BYTES + 1), with_solutions)
    if not os.path.exists(path):
        raise ReferenceDataError([f"reference data not found at {show(path)}"])
    with open_tree(path, ReferenceDataError, trusted=True) as tree:
        entries = OrderedDict((e.parts, e) for e in tree.entries)
        prefix = _find_manifest(entries)
        manifest = entries[prefix + (MANIFEST_NAME,)]
        try:
            raw = read_entry(manifest, MAX_MANIFEST_BYTES, "manifest")
        except ValueError as exc:
            raise ReferenceDataError([f"{show(manifest.display)}: {exc}"]) from None
        reference = _parse_manifest(raw, with_solutions)
        if with_solutions:
            _load_solutions(reference, entries, prefix)
    return reference


def _find_manifest(entries: dict[tuple[str, ...], Entry]) -> tuple[str, ...]:
    """Prefix under which manifest.json sits: the root, or one wrapping folder."""
    if (MANIFEST_NAME,) in entries:
        return ()
    wrapped = [p[:-1] for p in entries if len(p) == 2 and p[-1] == MANIFEST_NAME]
    if len(wrapped) == 1:
        return wrapped[0]
    raise ReferenceDataError([f"no {MANIFEST_NAME} at the root of the reference data"])


def _parse_manifest(raw: bytes, with_solutions: bool) -> Reference:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ReferenceDataError([f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES} bytes"])
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except ValueError as exc:
        raise ReferenceDataError([f"{MANIFEST_NAME} is not valid JSON ({exc})"]) from None
    if not isinstance(doc, dict):
        raise ReferenceDataError([f"{MANIFEST_NAME} must hold a JSON object"])
    problems: list[str] = []
    if with_solutions and doc.get("format") != REFERENCE_FORMAT:
        problems.append(
            f"{MANIFEST_NAME}: format is {doc.get('format')!r}, expected {REFERENCE_FORMAT!r}"
        )
    task = _safe_name(doc.get("task"), "task", problems)
    phase = doc.get("phase")
    if with_solutions or phase is not None:
        phase = _safe_name(phase, "phase", problems)
    scenarios = _parse_scenarios(doc.get("scenarios"), phase, problems)
    disclosure, found = scorer_disclosure.parse_disclosure(doc.get("disclosure"), MANIFEST_NAME)
    problems += found
    if problems:
        raise ReferenceDataError(problems)
    return Reference(task, phase, scenarios, disclosure)


def _safe_name(value: object, what: str, problems: list[str]) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.match(value):
        problems.append(f"{MANIFEST_NAME}: {what} {value!r} is not a plain name")
        return "?"
    return value


def _parse_scenarios(raw: object, phase: str | None, problems: list[str]) -> list[Scenario]:
    if not isinstance(raw, list) or not raw:
        problems.append(f"{MANIFEST_NAME}: 'scenarios' must be a non-empty list")
        return []
    scenarios: list[Scenario] = []
    for k, item in enumerate(raw, 1):
        where = f"{MANIFEST_NAME}: scenario {k}"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        sid = _safe_name(item.get("id"), f"scenario {k} id", problems)
        if sid in [s.id for s in scenarios]:
            problems.append(f"{where}: id {sid!r} is listed twice")
        epsilon = _optional_number(item.get("epsilon"), where + " epsilon", problems)
        delta = _optional_number(item.get("delta"), where + " delta", problems)
        if delta is not None and not 0.0 <= delta < 1.0:
            problems.append(f"{where}: delta {delta!r} is not in [0, 1)")
        models = _parse_models(item.get("models"), where, problems)
        if phase not in (None, "?") and not models.get(phase):
            problems.append(f"{where} ({sid}) lists no models for the scored phase {phase!r}")
        label = str(item.get("label", sid))
        delta = DEFAULT_DELTA if delta is None else delta
        scenarios.append(Scenario(sid, label, epsilon, delta, models))
    return scenarios


def _optional_number(value: object, where: str, problems: list[str]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.append(f"{where} must be a number or null")
        return None
    return float(value)


def _parse_models(raw: object, where: str, problems: list[str]) -> dict[str, dict[str, int]]:
    models: dict[str, dict[str, int]] = OrderedDict()
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: 'models' must map phases to {{model: count}}")
        return models
    for phase, listing in raw.items():
        _safe_name(phase, "phase", problems)
        if not isinstance(listing, dict):
            problems.append(f"{where}: models of phase {phase!r} must be an object")
            continue
        counts: dict[str, int] = OrderedDict()
        for name, count in listing.items():
            _safe_name(name, "model", problems)
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                problems.append(f"{where}: {phase}/{name} count must be a positive integer")
                continue
            counts[name] = count
        models[phase] = counts
    return models


def _load_solutions(
    reference: Reference, entries: dict[tuple[str, ...], Entry], prefix: tuple[str, ...]
) -> None:
    """Labels of the scored phase, concatenated per scenario in manifest model order."""
    problems: list[str] = []
    for scenario in reference.scenarios:
        chunks: list[np.ndarray] = []
        for model, count in scenario.models[reference.phase].items():
            rel = (reference.task, scenario.id, reference.phase, model, SOLUTION_NAME)
            labels = _read_solution(entries.get(prefix + rel), "/".join(rel), count, problems)
            if labels is not None:
                chunks.append(labels)
        if problems:
            continue
        labels = np.concatenate(chunks)
        members = int(np.count_nonzero(labels))
        if members == 0 or members == labels.size:
            problems.append(
                f"scenario {scenario.id!r}: the {reference.phase} solutions need both members "
                "and non-members"
            )
        reference.labels[scenario.id] = labels
    if problems:
        raise ReferenceDataError(problems)


def _read_solution(
    entry: Entry | None, display: str, count: int, problems: list[str]
) -> np.ndarray | None:
    """Labels of one model as booleans; problems never quote a solution value."""
    if entry is None:
        problems.append(f"{display} is missing")
        return None
    try:
        data = read_entry(entry, size_limit(count), "solution file")
        labels = parse_binary(data)
        if labels is not None and labels.size == count:
            return labels
        values = parse_values(data, echo=False)
    except ValueError as exc:
        problems.append(f"{display}: {exc}")
        return None
    if values.size != count:
        problems.append(
            f"{display} has {values.size} values, the manifest says {count} challenge points"
        )
        return None
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        problems.append(f"{display}: value #{bad[0] + 1} is not 0 or 1")
        return None
    return values == 1


# --- submissions -----------------------------------------------------------------------------


def _is_ignored(parts: tuple[str, ...]) -> bool:
    """macOS and Windows litter, and the platform's own top-level metadata file."""
    if "__MACOSX" in parts or parts[-1].startswith("._") or parts[-1] in IGNORED_NAMES:
        return True
    return parts == ("metadata",)


def _slot_of(parts: tuple[str, ...], reference: Reference) -> tuple[str, str, str, str] | None:
    """(scenario, phase, model, file name) of a prediction file at an accepted place.

    Accepted prefixes before ``<scenario>/<phase>/model_<i>/``: nothing, the task folder, one
    wrapping folder, or one wrapping folder then the task folder.
    """
    if len(parts) < 4 or parts[-1] not in PREDICTION_NAMES:
        return None
    sid, phase, model = parts[-4:-1]
    prefix = parts[:-4]
    if len(prefix) > 2 or (len(prefix) == 2 and prefix[1] != reference.task):
        return None
    for scenario in reference.scenarios:
        if scenario.id == sid and model in scenario.models.get(phase, {}):
            return sid, phase, model, parts[-1]
    return None


class SubmissionFiles:
    """Prediction files sorted into model slots, plus what was set aside."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, str, str], dict[str, Entry]] = OrderedDict()
        self.extras: list[str] = []
        self.misplaced: list[str] = []
        self.problems: list[str] = []


def sort_entries(entries: list[Entry], reference: Reference) -> SubmissionFiles:
    """Flatten the accepted layouts onto (scenario, phase, model) and catch duplicates."""
    files = SubmissionFiles()
    for entry in entries:
        if _is_ignored(entry.parts):
            continue
        slot = _slot_of(entry.parts, reference)
        if slot is None:
            files.extras.append(entry.display)
            if entry.parts[-1] in PREDICTION_NAMES:
                files.misplaced.append(entry.display)
            continue
        by_name = files.slots.setdefault(slot[:3], OrderedDict())
        if slot[3] in by_name:
            files.problems.append(
                f"{show(by_name[slot[3]].display)} and {show(entry.display)} are the same "
                f"model ({'/'.join(slot)}) once the folders are flattened; keep only one"
            )
            continue
        by_name[slot[3]] = entry
    return files


def _expected_path(reference: Reference, sid: str, phase: str, model: str) -> str:
    return "/".join((reference.task, sid, phase, model, PREDICTION_NAMES[0]))


def _missing_problems(files: SubmissionFiles, reference: Reference) -> list[str]:
    """One message per missing model, or one per wholly missing scenario and phase."""
    problems: list[str] = []
    for scenario in reference.scenarios:
        for phase in reference.phases():
            models = list(scenario.models.get(phase, {}))
            missing = [m for m in models if (scenario.id, phase, m) not in files.slots]
            if models and len(missing) == len(models):
                expected = _expected_path(reference, scenario.id, phase, "model_<i>")
                problems.append(
                    f"no predictions for scenario {scenario.id!r}, phase {phase!r}: expected "
                    f"{len(models)} files {expected}"
                )
                continue
            for model in missing:
                expected = _expected_path(reference, scenario.id, phase, model)
                problems.append(
                    f"missing {expected} (model {model} of scenario {scenario.id!r}, "
                    f"phase {phase!r})"
                )
    if problems and files.misplaced:
        hint = (
            f"{len(files.misplaced)} prediction files are at unexpected places, e.g. "
            f"{show(files.misplaced[0])}; expected <task>/<scenario>/<phase>/model_<i>/"
            "prediction.csv, optionally without the task folder or inside one extra folder"
        )
        problems.insert(0, hint)  # first, so that it is never cut off
    # Refused even when the rest is complete: CodaLab's worker (competitions-v1-compute-worker
    # worker.py get_bundle) unpacks a zip at the top of the submission next to it, Codabench's
    # (compute_worker.py _get_bundle) does not, so accepting it would make one submission valid
    # on one platform and invalid on the other.
    nested = [p for p in files.extras if p.lower().endswith(".zip")]
    if nested:
        problems.insert(
            0,
            f"the submission contains {show(nested[0])}: zip the prediction folders "
            "themselves, not a zip file",
        )
    return problems


def _check_scores(values: np.ndarray, count: int) -> str | None:
    if values.size != count:
        return f"expected {count} values (one per challenge point), found {values.size}"
    finite = np.isfinite(values)
    if not np.all(finite):
        first = int(np.flatnonzero(~finite)[0])
        kind = "NaN" if np.isnan(values[first]) else "infinite"
        return f"value #{first + 1} is {kind}; scores must be finite numbers in [0, 1]"
    outside = np.flatnonzero((values < 0.0) | (values > 1.0))
    if outside.size:
        first = int(outside[0])
        return (
            f"{outside.size} values are outside [0, 1]; the first is value #{first + 1} = "
            f"{float(values[first])!r}"
        )
    return None


def _read_predictions(entry: Entry, count: int) -> np.ndarray:
    """Parsed and checked scores of one file; ValueError says what is wrong."""
    values = parse_values(read_entry(entry, size_limit(count), "prediction file"))
    problem = _check_scores(values, count)
    if problem:
        raise ValueError(problem)
    return values


def _read_slot(by_name: dict[str, Entry], count: int) -> np.ndarray:
    """Scores of one model; prediction.csv and predictions.csv must agree when both exist."""
    arrays: list[np.ndarray] = []
    for entry in by_name.values():
        try:
            arrays.append(_read_predictions(entry, count))
        except ValueError as exc:
            raise ValueError(f"{show(entry.display)}: {exc}") from None
    if len(arrays) == 2 and not np.array_equal(arrays[0], arrays[1]):
        names = " and ".join(show(e.display) for e in by_name.values())
        raise ValueError(f"{names} disagree; keep only one of them")
    return arrays[0]


def read_submission(
    entries: list[Entry], reference: Reference
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Scores of the scored phase per scenario (manifest order), and warnings.

    Every phase the manifest lists is read and checked, so that a dev-phase submission whose
    final part would fail is rejected now rather than after the competition closes.
    Raises SubmissionError listing every problem found.
    """
    files = sort_entries(entries, reference)
    problems = files.problems + _missing_problems(files, reference)
    scores: dict[str, np.ndarray] = OrderedDict()
    for scenario in reference.scenarios:
        chunks: list[np.ndarray] = []
        for phase in reference.phases():
            for model, count in scenario.models.get(phase, {}).items():
                by_name = files.slots.get((scenario.id, phase, model))
                if by_name is None:
                    continue
                try:
                    values = _read_slot(by_name, count)
                except ValueError as exc:
                    problems.append(str(exc))
                    continue
                if phase == reference.phase:
                    chunks.append(values)
        if reference.phase and not problems:
            scores[scenario.id] = np.concatenate(chunks)
    if problems:
        raise SubmissionError(problems)
    return scores, _extra_warnings(files)


def _extra_warnings(files: SubmissionFiles) -> list[str]:
    count = len(files.extras)
    if not count:
        return []
    shown = ", ".join(show(p) for p in files.extras[:5])
    more = f" and {count - 5} more" if count > 5 else ""
    noun, verb = ("file", "is") if count == 1 else ("files", "are")
    return [f"ignored {count} {noun} that {verb} not part of the expected layout: {shown}{more}"]


def open_submission(path: str) -> Tree:
    """A submission zip (local mode) or an expanded submission folder (platform mode)."""
    if not os.path.exists(path):
        raise SubmissionError([f"no submission found at {show(path)}"])
    tree = open_tree(path, SubmissionError)
    if not tree.entries:
        tree.close()
        raise SubmissionError(["the submission is empty"])
    return tree
