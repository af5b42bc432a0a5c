"""A period of the log asked for: each end with a time zone, the start before the end. No I/O."""

from __future__ import annotations

from datetime import datetime


class InvalidPeriod(ValueError):
    """The period cannot be read as asked; the message says how to give it."""


def check_period(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("from", "to")
) -> None:
    """Raises InvalidPeriod naming the parameter (`names`, as the caller calls them) that is wrong."""
    for name, moment in zip(names, (since, until), strict=True):
        if moment is not None and moment.tzinfo is None:
            raise InvalidPeriod(f"`{name}` needs a time zone, e.g. 2026-03-01T00:00:00Z")
    if since and until and since >= until:
        raise InvalidPeriod(f"`{names[0]}` must be before `{names[1]}`")
