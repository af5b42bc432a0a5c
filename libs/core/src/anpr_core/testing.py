"""Small helpers for the services' tests: wait for an asynchronous outcome, read a topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from anpr_core.bus import MemoryBus, Record


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Polls `check` until it is true; fails the test with a clear message after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def read_topic(bus: MemoryBus, topic: str) -> list[Record]:
    """Everything on `topic`, read by a fresh group that commits (so bus.pending() stays meaningful)."""
    consumer = bus.consumer([topic], f"reader-{uuid.uuid4()}")
    await consumer.start()
    taken: list[Record] = []
    try:
        while batch := await consumer.poll(timeout_s=0.01, max_records=1000):
            taken.extend(batch)
        await consumer.commit(taken)
    finally:
        await consumer.stop()
    return taken
