"""What access does with each event it consumes: store a read or a passage (unless past retention),
store a hit."""

from __future__ import annotations

import logging
from datetime import datetime

from anpr_access.domain.records import HitRecord, PassageRecord, ReadRecord
from anpr_access.ports import IntakePorts
from anpr_core.metrics import READS_STORED

_log = logging.getLogger(__name__)


async def on_read(ports: IntakePorts, read: ReadRecord, now: datetime) -> None:
    if now - read.captured_at > ports.policy.retention:
        # Already past retention (a very late replay): the law says it must not be kept.
        _log.info("read %s is past retention and is not stored", read.event_id)
        return
    READS_STORED.inc(await ports.store.add_read(read))


async def on_passage(ports: IntakePorts, passage: PassageRecord, now: datetime) -> None:
    if now - passage.first_seen > ports.policy.retention:
        _log.info("passage %s is past retention and is not stored", passage.passage_id)
        return
    await ports.store.add_passage(passage)


async def on_hit(ports: IntakePorts, hit: HitRecord) -> None:
    await ports.store.add_hit(hit)
