"""Hotlist changes onto the hotlist topic: entries (in chunks) and lists' rules, as every replica's
index consumer reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from anpr_core.bus import Bus, OutgoingRecord
from anpr_match.adapters.codecs import KIND_HEADER, LIST_KIND, entry_records, list_key, rules_to_event
from anpr_match.domain.entries import HotlistEntry, ListRules

PUBLISH_CHUNK = 5000


class HotlistPublisher:
    """Publishes this replica's hotlist changes; `indexed_here` is the header that marks a record
    this replica indexed itself before publishing it (its own index consumer skips those)."""

    def __init__(self, bus: Bus, topic: str, zone_id: str, indexed_here: tuple[str, bytes]) -> None:
        self._bus = bus
        self._topic = topic
        self._zone_id = zone_id
        self._indexed_here = indexed_here

    async def publish_rules(self, rules: ListRules) -> None:
        await self._bus.publish(
            self._topic,
            list_key(rules.name),
            rules_to_event(rules, self._zone_id).SerializeToString(),
            headers=[(KIND_HEADER, LIST_KIND)],
        )

    async def publish_entries(
        self, entries: Sequence[HotlistEntry], *, deleted: bool = False, indexed: bool = False
    ) -> None:
        # In chunks, so a bulk import never holds the event loop (consumers, requests) for long.
        headers = (self._indexed_here,) if indexed else ()
        for start in range(0, len(entries), PUBLISH_CHUNK):
            chunk = entries[start : start + PUBLISH_CHUNK]
            values = entry_records(chunk, self._zone_id, deleted)
            await self._bus.publish_many(
                [
                    OutgoingRecord(self._topic, e.entry_id.encode(), value, headers)
                    for e, value in zip(chunk, values, strict=True)
                ]
            )
            await asyncio.sleep(0)  # the in-process bus takes a chunk without yielding
