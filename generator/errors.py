"""Errors every part of the generator raises for the command line to print as one line."""

from __future__ import annotations


class UsageError(ValueError):
    """A command-line choice that does not fit the preset."""
