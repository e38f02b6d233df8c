"""The organizer tool's errors: bad input an organizer can fix, one class per kind of input.

Every command prints a :class:`GeneratorError` as one line (``error: …``, exit status 2) and
never a traceback; so does an ``OSError`` (a full disk, a folder that is a file). Set
``MICO_DEBUG=1`` (:data:`DEBUG_ENV`) to get the traceback instead, when such a line looks like
a bug rather than bad input. Anything else is a bug and keeps its traceback.

They subclass ValueError, as they did when each module defined its own, so that callers
catching ValueError keep working.
"""

from __future__ import annotations

import os

DEBUG_ENV = "MICO_DEBUG"


class GeneratorError(ValueError):
    """Bad input: the message names the file (or option) and the problem, on one line."""


class UsageError(GeneratorError):
    """A command-line choice that does not fit the preset or this machine."""


class PresetError(GeneratorError):
    """A preset file is missing, malformed or inconsistent."""


class DatasetError(GeneratorError):
    """A dataset file is missing or not in the expected format."""


class ExportError(GeneratorError):
    """The store is incomplete or inconsistent with the preset."""


def debugging() -> bool:
    """True when ``MICO_DEBUG`` asks for tracebacks instead of one-line errors."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")
