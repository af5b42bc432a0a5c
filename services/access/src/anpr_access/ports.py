"""What the handlers need from the world, as protocols (adapters/ implements them; tests may fake
them), and the small bundles of ports each area's handlers take."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from anpr_access.domain.dpo import RequestState
from anpr_access.domain.hit_images import HitImages
from anpr_access.domain.legal import LegalPolicy
from anpr_access.domain.records import (
    DpoRequest,
    HitRecord,
    Hold,
    PassageRecord,
    PassageView,
    ReadImages,
    ReadRecord,
)
from anpr_access.domain.retention import Month
from anpr_access.domain.search import ReadCriteria
from anpr_access.domain.stats import Bucket
from anpr_core.auth import Principal
from anpr_core.plates import Confusables


class AuditLog(Protocol):
    async def record(self, actor: Principal | None, action: str, **fields: Any) -> object: ...


class IntakeStore(Protocol):
    async def add_read(self, read: ReadRecord) -> int: ...
    async def add_passage(self, passage: PassageRecord) -> int: ...
    async def add_hit(self, hit: HitRecord) -> int: ...


class SearchStore(Protocol):
    async def find_passages(self, criteria: ReadCriteria) -> list[PassageView]: ...
    async def read_images(self, event_id: str, not_before: datetime) -> ReadImages | None: ...
    async def zone_hits(self, zone_id: str, since: datetime, limit: int) -> list[HitRecord]: ...
    async def traffic_counts(
        self, since: datetime, until: datetime, bucket: Bucket
    ) -> list[tuple[str, datetime, str, int]]: ...


class PassageTotals(Protocol):
    async def count_passages(self, criteria: ReadCriteria, cap: int) -> int: ...


class HitImageStore(Protocol):
    async def hit_images(self, hit_id: str, zone_id: str, not_before: datetime) -> HitImages | None: ...


class HoldStore(Protocol):
    async def place(self, hold: Hold) -> int: ...
    async def listed(self, *, include_lifted: bool, case_reference: str | None) -> list[Hold]: ...
    async def lift(self, hold_id: str, *, lifted_by: str, reason: str, now: datetime) -> Hold | None: ...


class Erasure(Protocol):
    @property
    def held_ids(self) -> list[str]: ...
    @property
    def erased(self) -> int: ...
    @property
    def passage_ids(self) -> list[str]: ...


class Rectification(Protocol):
    @property
    def reads(self) -> dict[str, str]: ...
    @property
    def passages(self) -> dict[str, str]: ...


class DpoStore(Protocol):
    async def add(self, request: DpoRequest) -> None: ...
    async def get(self, request_id: str) -> DpoRequest | None: ...
    async def listed(
        self, *, state: RequestState | None, overdue_at: datetime | None
    ) -> list[DpoRequest]: ...
    async def update(self, request_id: str, now: datetime, **values: Any) -> None: ...
    async def locate(
        self, plate: str, plate_key: str, since: datetime, until: datetime, camera_id: str | None
    ) -> list[str]: ...
    async def with_passages(self, ids: list[str]) -> list[str]: ...
    async def of_plate(self, ids: list[str], plate: str) -> set[str]: ...
    async def rectify(self, ids: list[str], plate: str, plate_key: str) -> Rectification: ...
    async def erase(self, ids: list[str]) -> Erasure: ...
    async def export(self, ids: list[str], subject_plate: str) -> bytes: ...


class RetentionStore(Protocol):
    async def ensure_partitions(self, months: list[Month]) -> None: ...
    async def delete_expired(self, cutoff: datetime) -> dict[str, int]: ...
    async def oldest_read(self) -> datetime | None: ...


@dataclass(frozen=True)
class IntakePorts:
    store: IntakeStore
    policy: LegalPolicy


@dataclass(frozen=True)
class SearchPorts:
    store: SearchStore
    audit: AuditLog
    policy: LegalPolicy
    # The zone's classes: fuzzy search and match's fuzzy matching use the same ones.
    confusables: Confusables
    totals: PassageTotals


@dataclass(frozen=True)
class HitImagePorts:
    store: HitImageStore
    audit: AuditLog
    policy: LegalPolicy


@dataclass(frozen=True)
class HoldPorts:
    store: HoldStore
    audit: AuditLog


@dataclass(frozen=True)
class DpoPorts:
    store: DpoStore
    audit: AuditLog
    deadline: timedelta
    confusables: Confusables


@dataclass(frozen=True)
class RetentionPorts:
    store: RetentionStore
    audit: AuditLog
    policy: LegalPolicy
    partitions_ahead: int
    # One run at a time per replica; across replicas the partition lock serialises them.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class AccessPorts:
    """Every port of the service, as bootstrap wires them; entrypoints/deps.py hands them out."""

    intake: IntakePorts
    search: SearchPorts
    holds: HoldPorts
    dpo: DpoPorts
    retention: RetentionPorts
    hit_images: HitImagePorts
