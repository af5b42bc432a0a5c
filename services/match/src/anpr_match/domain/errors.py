"""What can go wrong with a command, in the domain's words; the HTTP entrypoints answer each as
problem+json (entrypoints/errors.py)."""

from __future__ import annotations

from typing import Any


class MatchError(Exception):
    """A command refused, with the detail a user needs to act on it and, where useful, more fields."""

    title = "Error"

    def __init__(self, detail: str, *, title: str | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.title = title or self.title
        self.extensions = extensions


class NotFound(MatchError):
    """What the command names (a list, an entry, a hit) does not exist."""

    title = "Not Found"


class Conflict(MatchError):
    """The command conflicts with the state: already done, already exists, not yet in force."""

    title = "Conflict"


class OwnedElsewhere(MatchError):
    """The list or entry is a neighbour zone's, shared here: only that zone changes it."""

    title = "Owned by a neighbour zone"


class Invalid(MatchError):
    """The command's content is wrong (a list that does not exist, an impossible window, bad CSV)."""

    title = "Invalid"


class Unavailable(MatchError):
    """A dependency (the broker, the audit log) did not take what the command must write: retry."""

    title = "Service Unavailable"
