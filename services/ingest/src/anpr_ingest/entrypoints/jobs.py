"""Ingest's timed jobs (the silence check, the dedupe window): each runs every few seconds for the
life of the service, and a database that does not answer only delays it to the next round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    interval_s: float
    what: str
    run: Callable[[], Awaitable[object]]


async def every(job: Job) -> None:
    while True:
        try:
            await job.run()
        except SQLAlchemyError:
            log.warning("%s failed; trying again in %.0fs", job.what, job.interval_s, exc_info=True)
        await asyncio.sleep(job.interval_s)
