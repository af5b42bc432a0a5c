"""How many passages a search finds, counted as far as a cap: the items of adapters/search.py's page
query (passages, and reads no stored passage claims), each branch stopped one past the cap so that
a search of a busy camera over months costs no more than the cap's worth of index entries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, String, Subquery, case, func, literal, literal_column, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.search import _matching
from anpr_access.adapters.tables import passages, reads
from anpr_access.domain.search import ReadCriteria
from anpr_core.db import session_factory


class SearchTotals:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def count_passages(self, criteria: ReadCriteria, cap: int) -> int:
        """The number of items a search finds over all its pages (criteria.offset and .limit
        aside), or cap + 1 when there are more than `cap`."""
        reach = cap + 1
        claimed = passages.alias("claimed")
        by_passage = (
            select(passages.c.passage_id, literal(None, String).label("read_id"))
            .where(*_matching(passages, passages.c.first_seen, criteria))
            .limit(reach)
        )
        if criteria.plate is None and criteria.plate_key is None:
            # As the page query: camera, direction and window are the passage's own, so the reads
            # count only where no stored passage claims them (then each is an item of its own).
            by_read = (
                select(literal(None, String).label("passage_id"), reads.c.event_id.label("read_id"))
                .where(*_matching(reads, reads.c.captured_at, criteria), reads.c.passage_id.is_(None))
                .limit(reach)
            )
        else:
            at = func.coalesce(claimed.c.first_seen, reads.c.captured_at)
            by_read = (
                select(
                    claimed.c.passage_id,
                    case((claimed.c.passage_id.is_(None), reads.c.event_id), else_=None).label("read_id"),
                )
                .select_from(reads.outerjoin(claimed, claimed.c.passage_id == reads.c.passage_id))
                .where(*_matching(reads, reads.c.captured_at, criteria))
                .where(at >= criteria.window_start, at < criteria.window_end)
                .limit(reach)
            )
        # UNION drops a passage found by its plate and by its reads' plates; either branch at its
        # reach means more than the cap, whatever the other holds.
        found = union(select(by_passage.subquery()), select(by_read.subquery())).subquery()
        async with self._sessions() as session:
            # The passages alone first, from their index: past the cap, the reads (a walk of every
            # read in the window, to find those no passage claims) need not be looked at.
            stored = await session.scalar(_count(by_passage.with_only_columns(literal(1)).subquery()))
            if int(stored or 0) >= reach:
                return reach
            total = await session.scalar(_count(found))
        return min(int(total or 0), reach)


def _count(rows: Subquery) -> Select[Any]:
    return select(func.count(literal_column("*"))).select_from(rows)
