"""What share's handlers need of the world, as protocols (the adapters and the tests' fakes both fit
them), and the one frozen dataclass of ports bootstrap hands them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from anpr.v1 import audit_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.events import Topics
from anpr_share.domain.agreements import Agreement, ReadField
from anpr_share.domain.book import AgreementBook
from anpr_share.domain.zone_topics import SharedKind, ZoneTopics
from anpr_share.handlers.views import (
    CameraView,
    Encoded,
    HotlistView,
    NeighbourRecord,
    ReadView,
    SharingEnd,
)


class AgreementChanges(Protocol):
    """One transaction of agreement changes, with their audit records and events: all, or nothing."""

    async def all(self) -> list[Agreement]: ...
    async def get(self, agreement_id: str) -> Agreement | None: ...
    async def add(self, agreement: Agreement) -> None: ...
    async def save(self, agreement: Agreement) -> None: ...
    async def audit(self, event: audit_pb2.AuditEvent) -> None: ...
    async def announce(self, record: OutgoingRecord) -> None: ...
    async def tell_neighbour(self, record: OutgoingRecord) -> None: ...


class Agreements(Protocol):
    def change(self) -> AbstractAsyncContextManager[AgreementChanges]: ...
    async def all(self) -> list[Agreement]: ...
    async def get(self, agreement_id: str) -> Agreement | None: ...


class Codec(Protocol):
    """The wire (adapters.codecs.ShareCodec); decoding raises DecodeError for bytes that are none."""

    def read(self, value: bytes) -> ReadView: ...
    def minimised_read(self, view: ReadView, fields: frozenset[ReadField]) -> bytes: ...
    def hotlist(self, headers: Sequence[tuple[str, bytes]], value: bytes) -> HotlistView: ...
    def minimised_hotlist(self, view: HotlistView) -> Encoded: ...
    def sharing_ended(self, end: SharingEnd) -> Encoded: ...
    def neighbour(
        self, kind: SharedKind, headers: Sequence[tuple[str, bytes]], value: bytes
    ) -> NeighbourRecord: ...
    def accepted(self, record: NeighbourRecord, ends_at: datetime | None) -> Encoded: ...
    def camera(self, value: bytes) -> CameraView: ...


@dataclass(frozen=True)
class SharePorts:
    zone_id: str
    book: AgreementBook  # this replica's view of the agreements and the border cameras
    # Held while records go to the exchange and while the book changes: a revocation answered here
    # has stopped this replica's sharing (no record of it is on its way any more).
    flow: asyncio.Lock
    store: Agreements
    audit: AuditTrail
    codec: Codec
    bus: Bus  # this zone's
    exchange: Bus  # where neighbours share topics
    topics: Topics  # this zone's
    zone_topics: ZoneTopics
