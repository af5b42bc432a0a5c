"""For share's tests: zones' share services in one process, each with its own in-process bus and
SQLite, all on one in-process exchange (as the embedded platform runs a partner zone)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from anpr.v1 import audit_pb2, common_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus, Record
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually
from anpr_share.bootstrap import ShareService, build_service
from anpr_share.settings import ShareSettings

TOPICS = Topics()


@dataclass
class Zone:
    zone_id: str
    bus: MemoryBus
    exchange: MemoryBus
    issuer: DevIssuer
    service: ShareService
    client: httpx.AsyncClient

    def auth(self, role: Role, subject: str = "someone") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role, zone_id=self.zone_id)}"}

    async def agree(self, partner: str, **body: Any) -> dict[str, Any]:
        answer = await self.client.post(
            "/v1/agreements",
            json={
                "partner_zone_id": partner,
                "reference": f"AGR-{self.zone_id}-{partner}",
                "legal_basis": "art. 44/11/3septies WPA",
                **body,
            },
            headers=self.auth(Role.ADMIN, "admin"),
        )
        if answer.status_code != 201:
            raise AssertionError(f"the agreement was refused: {answer.text}")
        agreement: dict[str, Any] = answer.json()
        return agreement

    async def revoke(self, agreement_id: str, reason: str = "agreement ended") -> httpx.Response:
        return await self.client.post(
            f"/v1/agreements/{agreement_id}/revoke",
            json={"reason": reason},
            headers=self.auth(Role.ADMIN, "admin"),
        )

    def read_value(self, camera_id: str, plate: str, **fields: Any) -> bytes:
        """A full read of this zone (every field set, so minimisation shows), serialised."""
        return plate_read(self.zone_id, camera_id, plate, **fields).SerializeToString()

    async def publish_read(self, camera_id: str, plate: str, **fields: Any) -> str:
        read = plate_read(self.zone_id, camera_id, plate, **fields)
        await self.bus.publish(TOPICS.reads, camera_id.encode(), read.SerializeToString())
        return read.meta.event_id

    async def audit_events(self, action: str) -> list[audit_pb2.AuditEvent]:
        events = []
        for record in await self.topic(TOPICS.audit):
            event = audit_pb2.AuditEvent()
            event.ParseFromString(record.value)
            if event.action == action:
                events.append(event)
        return events

    async def audited(self, action: str, count: int) -> list[audit_pb2.AuditEvent]:
        """The audit events of `action`, once there are `count` (an outbox relay publishes some)."""
        events: list[audit_pb2.AuditEvent] = []

        async def there() -> bool:
            events[:] = await self.audit_events(action)
            return len(events) >= count

        await eventually(there, timeout_s=10)
        return events

    async def topic(self, name: str, exchange: bool = False) -> list[Record]:
        """Everything on a topic, read outside any group (so the bus's pending count stays the
        services' own), in publication order per partition."""
        bus = self.exchange if exchange else self.bus
        return [record async for batch in bus.replay(name, 0) for record in batch]

    async def arrived(self, name: str, count: int, exchange: bool = False) -> list[Record]:
        """The records of a topic, once there are `count` (a neighbour's topic is read from the
        gate's next look for it on)."""
        records: list[Record] = []

        async def there() -> bool:
            records[:] = await self.topic(name, exchange)
            return len(records) >= count

        await eventually(there, timeout_s=10)
        return records

    async def settled(self) -> None:
        """Waits until this zone's bridge and gate have taken what is on their topics."""

        async def idle() -> bool:
            return self.bus.pending() == 0 and self.exchange.pending() == 0

        await eventually(idle, timeout_s=10)


def plate_read(zone_id: str, camera_id: str, plate: str, **fields: Any) -> read_pb2.PlateRead:
    """A full read, as detect publishes one: every field set, so minimisation shows."""
    read = read_pb2.PlateRead(
        meta=new_meta(zone_id, "detect"),
        camera_id=camera_id,
        captured_at=to_timestamp(fields.pop("captured_at", datetime.now(UTC) - timedelta(seconds=2))),
        direction=common_pb2.DIRECTION_IN,
        plate=plate,
        formatted=plate,
        country="BE",
        format_valid=True,
        confidence=0.93,
        candidates=[read_pb2.PlateCandidate(text=plate.replace("0", "O"), confidence=0.4)],
        box=common_pb2.Box(x1=10, y1=20, x2=110, y2=50),
        frame_event_id=new_meta(zone_id, "ingest").event_id,
        plate_crop=b"\xff\xd8crop",
        reader="rapidocr-ppocr",
        overview=b"\xff\xd8overview",
        character_probabilities=[0.9] * len(plate),
        plate_format="BE current (2010)",
        vehicle=read_pb2.VehicleAttributes(type="car", colour="white", make="Audi"),
    )
    for name, value in fields.items():
        if name == "meta":
            read.meta.CopyFrom(value)
        else:
            setattr(read, name, value)
    return read


@asynccontextmanager
async def zone_factory(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await start("5344", "5388")`: those zones' share services, running, on one exchange."""
    exchange = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    async with AsyncExitStack() as stack:

        async def start(*zone_ids: str, **settings: Any) -> list[Zone]:
            made = []
            for zone_id in zone_ids:
                running = _zone(tmp_path, zone_id, exchange, issuer, **settings)
                made.append(await stack.enter_async_context(running))
            return made

        yield start


@asynccontextmanager
async def _zone(
    tmp_path: Path, zone_id: str, exchange: MemoryBus, issuer: DevIssuer, **settings: Any
) -> AsyncIterator[Zone]:
    bus = MemoryBus()
    data = tmp_path / zone_id
    engine = make_engine(None, "share", data)
    options: dict[str, Any] = {"refresh_s": 0.05, "topic_check_s": 0.05} | settings
    service = build_service(
        ShareSettings(zone_id=zone_id, data_dir=data, **options), bus, engine, issuer, exchange
    )
    app = service.app
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://share") as client,
        ):
            yield Zone(zone_id, bus, exchange, issuer, service, client)
    finally:
        await engine.dispose()
