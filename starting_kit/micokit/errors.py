"""The kit's exceptions: each carries one readable line for the command line to print."""

from __future__ import annotations


class MicokitError(ValueError):
    """Base class: a problem with the user's input, explained in one line."""


class DataError(MicokitError):
    """A task folder, manifest, index file, model or dataset is missing or malformed."""


class OptionError(MicokitError):
    """An option or argument value is unusable (a device, a batch size, an output path)."""


class SubmissionInvalid(MicokitError):
    """The scorer's own validation rejected a submission; the message is the scorer's."""


class ScorerNotFound(MicokitError):
    """No copy of the scoring program could be located."""
