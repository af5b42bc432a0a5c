"""What access refuses, as types: the entrypoints answer each kind with its status. No I/O.

Each error's `detail` says what to change; `title` names the refusal in the domain's words.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A request the rules refuse."""

    title = "Invalid request"

    def __init__(self, detail: str, *, title: str | None = None, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if title is not None:
            self.title = title
        # Extra members of the answer, e.g. the ids of the records a hold keeps.
        self.extensions = extensions


class Invalid(Refused):
    """The request is incomplete or contradicts itself."""


class NotFound(Refused):
    """What the request names does not exist (or no longer: retention)."""

    title = "Not found"


class Conflict(Refused):
    """The request conflicts with the current state: a step out of order, already done, held."""
