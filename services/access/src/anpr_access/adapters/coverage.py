"""What a legal hold covers, in SQL: a hold keeps a passage and its reads together.

A hold names a plate, a time range, or both. It covers a read of that plate in that range, and a
passage whose consensus plate, or one of whose reads, it covers; a read of a covered passage is
kept with it, so retention and erasure never take part of a vehicle's passage away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select, true

from anpr_access.adapters.tables import holds, passage_reads, passages, reads


@dataclass(frozen=True)
class Bounds:
    """One hold's bounds, for the count of what it covers as it is placed."""

    plate: str | None
    since: datetime | None
    until: datetime | None


def _within(plate: Any, start: Any, end: Any, bounds: Bounds | None) -> ColumnElement[bool]:
    """[start, end] of `plate` meets the hold: `bounds`, or (None) the row of `holds` in the query."""
    if bounds is None:
        return and_(
            or_(holds.c.plate.is_(None), holds.c.plate == plate),
            or_(holds.c.since.is_(None), end >= holds.c.since),
            or_(holds.c.until.is_(None), start < holds.c.until),
        )
    clauses: list[ColumnElement[bool]] = [true()]
    if bounds.plate:
        clauses.append(plate == bounds.plate)
    if bounds.since:
        clauses.append(end >= bounds.since)
    if bounds.until:
        clauses.append(start < bounds.until)
    return and_(*clauses)


def _read_within(read: Any, bounds: Bounds | None) -> ColumnElement[bool]:
    return _within(read.c.plate, read.c.captured_at, read.c.captured_at, bounds)


def passage_covered(passage: Any, bounds: Bounds | None) -> ColumnElement[bool]:
    """The passage's consensus plate, or one of its reads, is covered."""
    sibling, member = reads.alias("covered_sibling"), passage_reads.alias("covered_member")
    return or_(
        _within(passage.c.plate, passage.c.first_seen, passage.c.last_seen, bounds),
        # Through the passage's list of reads: found by its index, then each read by its key.
        select(member.c.read_id)
        .where(
            member.c.passage_id == passage.c.passage_id,
            sibling.c.event_id == member.c.read_id,
            _read_within(sibling, bounds),
        )
        .correlate_except(member, sibling)
        .exists(),
    )


def read_covered(read: Any, bounds: Bounds | None) -> ColumnElement[bool]:
    """The read, or the passage it belongs to, is covered."""
    passage = passages.alias("covered_passage")
    return or_(
        _read_within(read, bounds),
        select(passage.c.passage_id)
        .where(passage.c.passage_id == read.c.passage_id, passage_covered(passage, bounds))
        .correlate_except(passage)
        .exists(),
    )


def held(table: Table = reads) -> ColumnElement[bool]:
    """True for a read (or, `table` passages, a passage) that an active (not lifted) hold covers."""
    covered = passage_covered(table, None) if table is passages else read_covered(table, None)
    active = select(holds.c.hold_id).where(holds.c.lifted_at.is_(None), covered)
    return active.correlate_except(holds).exists()


def covers(bounds: Bounds) -> ColumnElement[bool]:
    """Reads a hold with these bounds keeps (the same test as `held`, for one hold)."""
    return read_covered(reads, bounds)
