"""The live stream of hits: every replica's hits fanned out to this replica's Server-Sent-Event
subscribers, each hit audited as seen before it is sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from anpr_match.domain.errors import Unavailable


class HitStream:
    """Fans hits out to this replica's Server-Sent-Event subscribers.

    Fed from the hits topic, so an operator sees every replica's hits. A subscriber that falls
    `capacity` hits behind is told so (an `overflow` event) and dropped, never silently skipped.
    A hit published again (a redelivered read, a read met by both the read path and a look-back)
    has the same id and is shown once: the last `remembered` ids are kept.
    """

    def __init__(self, capacity: int = 1000, remembered: int = 10_000) -> None:
        self._capacity = capacity
        self._remembered = remembered
        self._offered: OrderedDict[str, None] = OrderedDict()
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, Any] | None]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._capacity + 1)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def offer(self, hit: dict[str, Any]) -> None:
        hit_id = str(hit["hit_id"])
        if hit_id in self._offered:
            return
        self._offered[hit_id] = None
        if len(self._offered) > self._remembered:
            self._offered.popitem(last=False)
        for queue in list(self._subscribers):
            if queue.qsize() >= self._capacity:
                self._subscribers.discard(queue)
                queue.put_nowait(None)  # the one slot kept back for this
            else:
                queue.put_nowait(hit)


async def hit_events(
    stream: HitStream,
    shown: Callable[[str], Awaitable[None]],
    *,
    limit: int | None,
    heartbeat_s: float,
) -> AsyncIterator[str]:
    """The Server-Sent Events of one subscriber: `event: hit` for each hit (after `shown(hit_id)`
    audited it), a comment as keep-alive, `overflow` or `unavailable` before it ends."""
    sent = 0
    with stream.subscribe() as queue:
        yield ": connected\n\n"
        while limit is None or sent < limit:
            try:
                hit = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if hit is None:
                yield 'event: overflow\ndata: {"detail": "too far behind; reload GET /v1/hits"}\n\n'
                return
            try:
                await shown(hit["hit_id"])
            except Unavailable:
                yield (
                    'event: unavailable\ndata: {"detail": "the audit log did not answer; '
                    'reconnect to go on"}\n\n'
                )
                return
            sent += 1
            yield f"id: {hit['hit_id']}\nevent: hit\ndata: {json.dumps(hit, default=str)}\n\n"
