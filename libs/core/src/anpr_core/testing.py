"""Small helpers for the services' tests: wait for an asynchronous outcome, read a topic, make a
test's own tables (the services' tables come from their migrations, anpr_core.migrations)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.bus import MemoryBus, Record
from anpr_core.db import is_postgres


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


async def create_tables(engine: AsyncEngine, metadata: MetaData, schema: str) -> None:
    """Creates a test's own schema and tables if missing (idempotent, also for two at once)."""
    async with engine.begin() as conn:
        if is_postgres(engine):
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"schema:{schema}"})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(metadata.create_all)
