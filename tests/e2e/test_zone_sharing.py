"""Two police zones on one real broker, sharing under agreements: zone 5344 (ingest, share, match,
audit) and zone 5388 (ingest, share, match, access), each with its own topics and PostgreSQL
database, their share services logging in to the broker's SASL exchange as zone-5344 and zone-5388
under the ACLs deploy/kafka/zone-exchange.sh gives them.

Reads of a shared border camera cross, those of another camera do not; what the agreement does not
name is absent; each disclosure is a row of the sender's audit chain; the receiver's search shows
the source zone; a hit on the sender's shared hotlist says whose list it is; a revocation stops
the flow before it is answered, and ends the shared lists."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from anpr.v1 import read_pb2
from anpr_access.bootstrap import build_app as build_access
from anpr_access.settings import AccessSettings
from anpr_audit.bootstrap import build_app as build_audit
from anpr_audit.settings import AuditSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.settings import CoreSettings
from anpr_core.standalone import kafka_bus_for
from anpr_core.testing import eventually
from anpr_ingest.bootstrap import build_app as build_ingest
from anpr_ingest.settings import IngestSettings
from anpr_match.bootstrap import build_app as build_match
from anpr_match.settings import MatchSettings
from anpr_share.bootstrap import build_app as build_share
from anpr_share.domain.zone_topics import ZoneTopics
from anpr_share.settings import ShareSettings
from schild.migrate import SERVICES, migrate_services

if TYPE_CHECKING:
    from conftest import Infrastructure, ZoneExchange

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_anpr_environment")]

SENDER, RECEIVER = "5344", "5388"
BUILDERS: dict[str, tuple[type[CoreSettings], Callable[..., Any]]] = {
    "ingest": (IngestSettings, build_ingest),
    "share": (ShareSettings, build_share),
    "match": (MatchSettings, build_match),
    "audit": (AuditSettings, build_audit),
    "access": (AccessSettings, build_access),
}
ZONE_SERVICES = {
    SENDER: ("audit", "match", "share", "ingest"),
    RECEIVER: ("access", "match", "share", "ingest"),
}


@dataclass
class Exchange:
    """The shared broker as its administrators see it (the plaintext listener's super user)."""

    topics: ZoneTopics
    observer: KafkaBus
    bootstrap: str

    async def records(self, topic: str) -> list[Any]:
        return [record async for batch in self.observer.replay(topic, 0) for record in batch]


@dataclass
class Zone:
    zone_id: str
    clients: dict[str, httpx.AsyncClient]
    issuer: DevIssuer

    def auth(self, role: Role, subject: str = "e2e") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role, zone_id=self.zone_id)}"}

    async def call(self, service: str, method: str, path: str, role: Role, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth(role), **kwargs.pop("headers", {})}
        return await self.clients[service].request(method, path, headers=headers, **kwargs)

    async def camera(self, camera_id: str, **register: Any) -> str:
        body = {"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": "smart", **register}
        answer = await self.call("ingest", "POST", "/v1/cameras", Role.ADMIN, json=body)
        assert answer.status_code == 201, answer.text
        key: str = answer.json()["api_key"]
        return key

    async def read(self, camera_id: str, key: str, plate: str) -> None:
        answer = await self.clients["ingest"].post(
            "/v1/reads",
            data={
                "camera_id": camera_id,
                "captured_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
                "text": plate,
                "confidence": "0.97",
            },
            headers={"X-Camera-Key": key},
        )
        assert answer.status_code == 202, answer.text


async def _databases(admin_url: str, count: int) -> list[tuple[str, str, str]]:
    """Fresh databases as production runs them: (owner URL, runtime URL, name) of each."""
    made = []
    admin = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for role in ("schild_owner", "schild_app"):
            await admin.execute(
                f"""DO $$ BEGIN
                      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                        CREATE ROLE {role} LOGIN PASSWORD '{role}';
                      END IF;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END $$"""  # noqa: S608 - constant role names
            )
        for _ in range(count):
            name = f"test_{uuid.uuid4().hex[:12]}"
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.execute(f'GRANT CREATE ON DATABASE "{name}" TO schild_owner')
            base = admin_url.rpartition("@")[2].rpartition("/")[0]
            made.append(
                (
                    f"postgresql+asyncpg://schild_owner:schild_owner@{base}/{name}",
                    f"postgresql+asyncpg://schild_app:schild_app@{base}/{name}",
                    name,
                )
            )
    finally:
        await admin.close()
    return made


@pytest.fixture
async def two_zones(
    infrastructure: Infrastructure, zone_exchange: ZoneExchange, tmp_path: Path
) -> AsyncIterator[tuple[Zone, Zone, Exchange]]:
    run = f"t{uuid.uuid4().hex[:8]}."
    zone_exchange.allow(SENDER, RECEIVER, prefix=run)
    zone_exchange.allow(RECEIVER, SENDER, prefix=run)
    databases = await _databases(infrastructure.database_url, 2)
    issuer = DevIssuer(tmp_path / "dev-issuer.pem")
    async with AsyncExitStack() as stack:
        zones = []
        for zone_id, (owner_url, app_url, _name) in zip((SENDER, RECEIVER), databases, strict=True):
            await migrate_services(SERVICES, app_url, owner_url)  # `anpr migrate all`, before they start
            common: dict[str, Any] = {
                "zone_id": zone_id,
                "kafka_bootstrap": zone_exchange.bootstrap,
                "topic_prefix": f"{run}{zone_id}.",
                "database_url": app_url,
                "database_owner_url": owner_url,
                "data_dir": tmp_path / zone_id,
                "dev_issuer_key_path": tmp_path / "dev-issuer.pem",
            }
            exchange: dict[str, Any] = {
                "exchange_bootstrap": zone_exchange.sasl_bootstrap,
                "exchange_protocol": "SASL_PLAINTEXT",
                "exchange_username": f"zone-{zone_id}",
                "exchange_password": zone_exchange.passwords[zone_id],
                "exchange_topic_prefix": run,
                "refresh_s": 0.5,
                "topic_check_s": 1.0,
            }
            clients = {}
            for service in ZONE_SERVICES[zone_id]:
                settings_type, build = BUILDERS[service]
                settings = settings_type(**common, **(exchange if service == "share" else {}))
                bus = kafka_bus_for(settings, client_id=f"e2e-{zone_id}-{service}")
                await bus.start()
                stack.push_async_callback(bus.stop)
                engine = make_engine(app_url, service, settings.data_dir)
                stack.push_async_callback(engine.dispose)
                app = build(settings, bus, engine, issuer)
                await stack.enter_async_context(app.router.lifespan_context(app))
                clients[service] = await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}")
                )
            zones.append(Zone(zone_id, clients, issuer))
        observer = KafkaBus(zone_exchange.bootstrap, client_id="e2e-observer")
        await observer.start()
        stack.push_async_callback(observer.stop)
        try:
            yield zones[0], zones[1], Exchange(ZoneTopics(run), observer, zone_exchange.bootstrap)
        finally:
            await stack.aclose()
            admin = await asyncpg.connect(infrastructure.database_url.replace("+asyncpg", ""))
            try:
                for _owner, _app, name in databases:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def until(check: Callable[[], Coroutine[Any, Any, Any]], timeout_s: float = 60) -> Any:
    """The check's answer once it is truthy."""
    found: list[Any] = []

    async def holds() -> bool:
        found[:] = [await check()]
        return bool(found[0])

    await eventually(holds, timeout_s=timeout_s)
    return found[0]


async def test_two_zones_share_under_an_agreement_and_a_revocation_stops_it(
    two_zones: tuple[Zone, Zone, Exchange],
) -> None:
    sender, receiver, exchange = two_zones
    topic = exchange.topics.reads(SENDER, RECEIVER)
    border_key = await sender.camera("cam-e40", border_camera=True, neighbour_zone_id=RECEIVER)
    inner_key = await sender.camera("cam-meir")
    # Zone 5344 shares the reads of its border cameras with 5388 (plate, time and camera only) and
    # its stolen-vehicle hotlists; zone 5388 takes both in.
    agreement = await sender.call(
        "share",
        "POST",
        "/v1/agreements",
        Role.ADMIN,
        json={
            "partner_zone_id": RECEIVER,
            "reference": "AGR-2026-014",
            "legal_basis": "art. 44/11/3septies WPA; protocol of 2026-03-01",
            "reads": {"border_cameras": True, "fields": ["plate", "time", "camera"]},
            "hotlists": {"categories": ["stolen_vehicle"]},
        },
    )
    assert agreement.status_code == 201, agreement.text
    taking = await receiver.call(
        "share",
        "POST",
        "/v1/agreements",
        Role.ADMIN,
        json={
            "partner_zone_id": SENDER,
            "reference": "AGR-2026-014",
            "legal_basis": "art. 44/11/3septies WPA",
            "inbound": {"reads": True, "hotlists": True},
        },
    )
    assert taking.status_code == 201, taking.text
    stolen = await sender.call(
        "match", "POST", "/v1/lists", Role.SUPERVISOR, json={"name": "stolen", "category": "stolen_vehicle"}
    )
    assert stolen.status_code == 201, stolen.text
    entry = await sender.call(
        "match",
        "POST",
        "/v1/hotlist",
        Role.SUPERVISOR,
        json={
            "plate": "9-XYZ-999",
            "list_name": "stolen",
            "reason": "reported stolen",
            "case_reference": "PV-1",
        },
    )
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["entry_id"]

    await sender.read("cam-e40", border_key, "1-ABC-234")
    await sender.read("cam-meir", inner_key, "2-DEF-345")

    # The receiver's search shows the shared read, with its source zone.
    justified = {"purpose": "judicial", "case_reference": "PV-2", "legal_basis": "art. 46/12 WPA"}

    async def found(plate: str) -> list[dict[str, Any]]:
        answer = await receiver.call(
            "access", "GET", "/v1/passages", Role.INVESTIGATOR, params={"plate": plate, **justified}
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    (item,) = await until(lambda: found("1ABC234"))
    assert item["source_zone"] == SENDER and item["camera_id"] == "cam-e40"
    assert [r["source_zone"] for r in item["reads"]] == [SENDER]

    # What crossed: the border camera's read alone, minimised to plate, time and camera.
    crossed = await exchange.records(topic)
    reads = []
    for record in crossed:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        reads.append(read)
    assert [r.plate for r in reads] == ["1ABC234"]
    shared = reads[0]
    assert shared.camera_id == "cam-e40" and shared.HasField("captured_at") and shared.meta.zone_id == SENDER
    assert not shared.confidence and not shared.direction and not shared.camera_read and not shared.reader
    assert await found("2DEF345") == [], "the unshared camera's read stays in its zone"

    # A read of the shared stolen vehicle in the receiving zone hits zone 5344's list, and says so.
    receiver_key = await receiver.camera("cam-5388")
    await until(lambda: _listed(receiver, entry_id))
    await receiver.read("cam-5388", receiver_key, "9-XYZ-999")

    async def hit() -> list[dict[str, Any]]:
        answer = await receiver.call("match", "GET", "/v1/hits", Role.OPERATOR)
        return [h for h in answer.json() if h["entry_id"] == entry_id]

    (raised,) = await until(hit)
    assert raised["source_zone"] == SENDER and raised["list_name"] == "zone-5344.stolen"

    # The disclosures are rows of the sender's audit chain: to whom, which records, which agreement.
    read_id = shared.meta.event_id

    async def disclosures() -> list[dict[str, Any]]:
        return [row["event"] for row in await _audit_rows(sender) if row.get("action") == "share_out"]

    rows = await until(disclosures)
    by_record = {rid: row for row in rows for rid in row.get("record_ids", [])}
    assert read_id in by_record and entry_id in by_record
    assert by_record[read_id]["recipients"] == [f"zone:{RECEIVER}"]
    assert by_record[read_id]["case_reference"] == "AGR-2026-014"
    assert agreement.json()["agreement_id"] in by_record[read_id]["query"]
    verdict = await sender.call("audit", "GET", "/v1/verify", Role.AUDITOR)
    assert verdict.json()["valid"] is True, verdict.text

    # Revocation: answered, nothing more crosses; the receiver's copy of the shared list ends.
    revoked = await sender.call(
        "share",
        "POST",
        f"/v1/agreements/{agreement.json()['agreement_id']}/revoke",
        Role.ADMIN,
        json={"reason": "protocol suspended"},
    )
    assert revoked.status_code == 200, revoked.text
    revoked_at = datetime.fromisoformat(revoked.json()["revoked_at"])
    await sender.read("cam-e40", border_key, "4-JKL-567")

    async def ended() -> bool:
        answer = await receiver.call("match", "GET", f"/v1/hotlist/{entry_id}", Role.OPERATOR)
        return answer.json()["valid_until"] is not None

    await until(ended)
    # The sender's bridge has taken (and committed) every read, the one after the revocation too.
    prefix = f"{exchange.topics.prefix}{SENDER}."
    await until(lambda: _consumed(exchange, f"{prefix}share-out-reads", f"{prefix}anpr.reads.v1"))
    after = await exchange.records(topic)
    assert len(after) == len(crossed), "nothing crossed after the revocation was answered"
    assert await found("4JKL567") == []
    late = [
        row
        for row in await disclosures()
        if datetime.fromisoformat(row["meta"]["occurred_at"].replace("Z", "+00:00")) > revoked_at
    ]
    assert late == [], "no disclosure after the revocation"


async def _consumed(exchange: Exchange, group: str, topic: str) -> bool:
    """Whether `group` has committed every record of `topic`."""
    ends = {
        record.partition: record.offset + 1
        async for batch in exchange.observer.replay(topic, 0)
        for record in batch
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=exchange.bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    at = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    return all(at.get(partition, 0) >= end for partition, end in ends.items())


async def _listed(zone: Zone, entry_id: str) -> bool:
    answer = await zone.call("match", "GET", f"/v1/hotlist/{entry_id}", Role.OPERATOR)
    return answer.status_code == 200 and bool(answer.json()["indexed"])


async def _audit_rows(zone: Zone) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    answer = await zone.call(
        "audit",
        "GET",
        "/v1/export",
        Role.AUDITOR,
        params={
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
    )
    assert answer.status_code == 200, answer.text
    rows = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
    return [row for row in rows if row.get("type") == "row"]
