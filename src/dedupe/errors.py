"""Errors raised by news-dedupe.

Every error a user can cause is a :class:`DedupeError`: the CLI prints its message (which says
what to change) and exits with its ``exit_code`` instead of showing a traceback.
"""

from __future__ import annotations


class DedupeError(Exception):
    """Base class of the errors news-dedupe reports to users."""

    exit_code = 1


class InputError(DedupeError):
    """The input cannot be read as documents (bad JSON, missing field, bad encoding...).

    ``location`` names the file and line (``path:line``) or the document at fault.
    """

    exit_code = 2

    def __init__(self, message: str, location: str | None = None):
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ConfigError(DedupeError):
    """A parameter has a value the cleaner cannot work with."""

    exit_code = 2


class OutputError(DedupeError):
    """The output cannot be written where asked (it is the input, or not writable)."""

    exit_code = 3
