"""The refusals of ingest's rules, each with what the camera needs to know to act on it."""

from __future__ import annotations


class RejectedFrame(ValueError):
    """A frame ingest will not accept; `reason` is a short metric label, the message tells the camera why."""

    def __init__(self, reason: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status
