"""The syntax errors of a model string (their own module: every parser raises them)."""
from __future__ import annotations

__all__ = ["MixedSyntaxError", "MixedOptionError"]


class MixedSyntaxError(ValueError):
    """A ``mixed`` command line that cannot be parsed.

    ``token`` is the offending text and ``position`` its 1-based character position in
    the command string (``None`` for keyword-argument problems).
    """

    def __init__(self, message: str, token: str | None = None, position: int | None = None):
        super().__init__(message)
        self.token = token
        self.position = position


class MixedOptionError(MixedSyntaxError, TypeError):
    """An unknown or invalid keyword option passed to :func:`parse_mixed`."""
