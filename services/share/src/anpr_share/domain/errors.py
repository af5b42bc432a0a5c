"""Share's domain refusals; entrypoints answer each with its problem+json status."""

from __future__ import annotations


class ShareRefusal(Exception):
    status = 400
    title = "Refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(ShareRefusal):
    status = 422
    title = "Invalid agreement"


class NotFound(ShareRefusal):
    status = 404
    title = "Not found"


class Conflict(ShareRefusal):
    status = 409
    title = "Conflict"


class RefusedRecord(Exception):
    """A neighbour's record this zone does not take: it goes to the DLQ with this reason."""
