"""Errors that make an input unusable (exit status 2).

Messages name positions and codes, never claim content: they end up in logs and terminals.
"""

from __future__ import annotations


class InputError(Exception):
    """The input cannot be scrubbed at all. ``str(err)`` is the one-line message for stderr."""

    def __init__(self, message: str, *, offset: int | None = None, segment: int | None = None):
        self.message = message
        self.offset = offset
        self.segment = segment
        where = []
        if offset is not None:
            where.append(f"byte {offset}")
        if segment is not None:
            where.append(f"segment {segment}")
        super().__init__(f"{message} (at {', '.join(where)})" if where else message)


class OutputError(OSError):
    """The output folder cannot take the outputs (not a folder, not writable, full disk).

    ``str(err)`` names the output folder, never the input: the input is not at fault. An OSError,
    so callers that already catch OSError keep working.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
