"""Errors the user can fix (bad input) versus internal errors.

A :class:`UserError` is printed by the CLI as one line ``file: json.path: message`` and exits
with code 2; an :class:`OutputError` (results cannot be written) exits 4; anything else is an
internal error (exit code 1). See docs/developer.md for every exit code.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input: names the file and the JSON path where it lies."""

    def __init__(self, message: str, file: str | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.path = path

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.path) if p]
        return ": ".join([*parts, self.message])


class SimulationAborted(Exception):
    """A value check with response ``abort`` fired: the run stops cleanly, results flushed."""


class OutputError(Exception):
    """The output folder cannot take the results (full disk, read-only, vanished): the CLI prints
    one line naming the path and the cause and exits with code 4."""
