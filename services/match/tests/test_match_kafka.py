"""Match on real Kafka and PostgreSQL: a new instance rebuilds lists and entries from the compacted
topic alone, matches by the list's rules, and entries expire, by themselves or when expired; reads
captured before an entry hit it once on either replica, whenever they arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from anpr.v1 import hit_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.migrations import migrate
from anpr_match.adapters.migrations import HISTORY
from anpr_match.bootstrap import MatchService, build_service
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.settings import MatchSettings

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_anpr_environment")]


@pytest.fixture
async def database_url(database_url: str) -> str:
    """The test's database with match's schema at its head, as `anpr migrate match` leaves it before
    the service starts (it refuses a schema that is not)."""
    engine = make_engine(database_url, "match", Path("."))
    try:
        await migrate(engine, None, HISTORY)
    finally:
        await engine.dispose()
    return database_url


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def instance(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path, name: str
) -> AsyncIterator[httpx.AsyncClient]:
    """One match replica with its own Kafka client and database pool, on the shared topics."""
    async with replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, name) as (client, _app):
        yield client


@asynccontextmanager
async def replica(
    kafka_bootstrap: str,
    topic_prefix: str,
    database_url: str,
    tmp_path: Path,
    name: str,
    options: MatchSettings | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, MatchService]]:
    """`instance`, with the replica as built, for a look at its state."""
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        kafka_bootstrap, client_id=f"match-{name}", topics=topics.all(), compacted=topics.compacted()
    )
    engine = make_engine(database_url, "match", tmp_path)
    settings = (options or MatchSettings(lookback_hours=0)).model_copy(
        update={
            "kafka_bootstrap": kafka_bootstrap,
            "database_url": database_url,
            "topic_prefix": topic_prefix,
            "data_dir": tmp_path,
        }
    )
    service = build_service(settings, bus, engine, DevIssuer(tmp_path / "key.pem"))
    app = service.app
    await bus.start()
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield client, service
    finally:
        await bus.stop()
        await engine.dispose()


async def test_a_second_instance_rebuilds_the_index_from_the_topic_and_entries_expire(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    operator = {"Authorization": f"Bearer {issuer.issue('oscar', Role.OPERATOR)}"}
    now = datetime.now(UTC)
    soon = now + timedelta(seconds=20)

    async def entry(client: httpx.AsyncClient, plate: str, **fields: Any) -> str:
        body = {"plate": plate, "list_name": "wanted", "reason": "r", "case_reference": "PV/1", **fields}
        response = await client.post("/v1/hotlist", json=body, headers=supervisor)
        assert response.status_code == 201, response.text
        entry_id: str = response.json()["entry_id"]
        return entry_id

    async with instance(kafka_bootstrap, topic_prefix, database_url, tmp_path, "first") as first:
        made = await first.post(
            "/v1/lists",
            json={"name": "wanted", "category": "wanted_person", "allow_edit": True},
            headers=supervisor,
        )
        assert made.status_code == 201, made.text
        lasting = await entry(first, "1ABC234")
        ending = await entry(first, "2XYZ789", valid_until=soon.isoformat())
        withdrawn = await entry(first, "3KLM456")
        expired = await first.post(
            f"/v1/hotlist/{withdrawn}/expire", json={"reason": "found"}, headers=supervisor
        )
        assert expired.status_code == 200

    # The second instance has no memory of the first: its index comes from the compacted topic.
    async with instance(kafka_bootstrap, topic_prefix, database_url, tmp_path, "second") as second:

        async def all_indexed() -> bool:
            states = [
                (await second.get(f"/v1/hotlist/{entry_id}", headers=operator)).json()["indexed"]
                for entry_id in (lasting, ending, withdrawn)
            ]
            return all(states)

        await eventually(all_indexed)
        topics = Topics(topic_prefix)
        bus = KafkaBus(kafka_bootstrap, client_id="camera", topics=topics.all())
        await bus.start()
        try:
            # Captured now, after the entries were made (a read before an entry is the look-back's job).
            now = datetime.now(UTC)
            reads = {
                "edit": ("1AC234", now),  # one missing character: the list's rule came from the topic too
                "in-force": ("2XYZ789", now),
                "after-expiry": ("2XYZ789", soon + timedelta(seconds=1)),
                "withdrawn": ("3KLM456", now),
            }
            sent = {}
            for label, (plate, captured) in reads.items():
                read = read_pb2.PlateRead(
                    meta=new_meta("5344", "detect"),
                    camera_id=f"cam-{label}",
                    captured_at=to_timestamp(captured),
                    plate=plate,
                    confidence=0.9,
                )
                sent[read.meta.event_id] = label
                await bus.publish(topics.reads, read.camera_id.encode(), read.SerializeToString())
        finally:
            await bus.stop()

        async def two_hits() -> bool:
            return len((await second.get("/v1/hits", headers=operator)).json()) >= 2

        await eventually(two_hits)
        await asyncio.sleep(2)  # time for a wrong third hit to show
        hits = (await second.get("/v1/hits", headers=operator)).json()
        assert sorted((sent[h["read_event_id"]], h["match_kind"], h["entry_id"]) for h in hits) == [
            ("edit", "edit", lasting),
            ("in-force", "exact", ending),
        ]


async def test_a_csv_import_on_postgresql_is_all_or_nothing(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    csv_upload = {**supervisor, "Content-Type": "text/csv"}
    header = "plate,country,list_name,valid_until,reason,case_reference\n"
    async with instance(kafka_bootstrap, topic_prefix, database_url, tmp_path, "csv") as client:
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        bad = header + "1ABC234,BE,stolen,,r,PV/1\n1ABC235,BE,stolen,2000-01-01T00:00:00Z,r,PV/1\n"
        refused = await client.post("/v1/hotlist/import", content=bad, headers=csv_upload)
        assert refused.status_code == 422
        assert [e["line"] for e in refused.json()["errors"]] == [3]
        assert (await client.get("/v1/hotlist", headers=supervisor)).json() == []
        good = header + "".join(f"1ABC{n:03d},BE,stolen,,r,PV/{n}\n" for n in range(300))
        imported = await client.post("/v1/hotlist/import", content=good, headers=csv_upload)
        assert imported.status_code == 201, imported.text
        listed = (await client.get("/v1/hotlist", params={"limit": 1000}, headers=supervisor)).json()
        assert sorted(e["plate"] for e in listed) == [f"1ABC{n:03d}" for n in range(300)]
        assert all(e["indexed"] and e["country"] == "BE" for e in listed)


async def test_on_postgresql_an_entry_and_its_event_are_stored_together_or_not_at_all(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    csv_upload = {**supervisor, "Content-Type": "text/csv"}
    header = "plate,country,list_name,reason,case_reference\n"
    async with instance(kafka_bootstrap, topic_prefix, database_url, tmp_path, "outbox") as client:
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        # From now on the outbox refuses every event, as a full disk would, after the entries'
        # own rows were written in the same transaction (COPY, for an import).
        database = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await database.execute(
                "CREATE FUNCTION match.refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused'; END $$; "
                "CREATE TRIGGER refuse BEFORE INSERT ON match.outbox "
                "FOR EACH ROW EXECUTE FUNCTION match.refuse()"
            )
        finally:
            await database.close()
        lines = "".join(f"1ABC{n:03d},BE,stolen,r,PV/{n}\n" for n in range(20))
        imported = await client.post("/v1/hotlist/import", content=header + lines, headers=csv_upload)
        assert imported.status_code == 500, imported.text
        body = {"plate": "2XYZ789", "list_name": "stolen", "reason": "r", "case_reference": "PV/2"}
        created = await client.post("/v1/hotlist", json=body, headers=supervisor)
        assert created.status_code == 500, created.text
        assert (await client.get("/v1/hotlist", headers=supervisor)).json() == []


async def test_reads_captured_before_an_entry_hit_it_once_on_either_replica_whenever_they_arrive(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    options = MatchSettings(lookback_hours=4)
    topics = Topics(topic_prefix)
    camera_bus = KafkaBus(kafka_bootstrap, client_id="camera", topics=topics.all())
    sent: dict[str, str] = {}  # read id -> when it arrived
    cameras = iter(range(1000))

    async def arrive(label: str, captured: list[datetime], plate: str = "1ABC234") -> None:
        for moment in captured:
            read = read_pb2.PlateRead(
                meta=new_meta("5344", "detect"),
                camera_id=f"cam-{next(cameras)}",  # one passage each: no duplicate suppression
                captured_at=to_timestamp(moment),
                plate=plate,
                confidence=0.9,
            )
            if label:
                sent[read.meta.event_id] = label
            await camera_bus.publish(topics.reads, read.camera_id.encode(), read.SerializeToString())

    async with (
        replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "a", options) as (first, first_app),
        replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "b", options) as (second, second_app),
    ):
        apps = (first_app, second_app)

        async def consumed(count: int) -> bool:
            return sum(len(app.pipeline.recent) for app in apps) >= count

        async def both_consuming() -> bool:
            # Unlisted plates, until the group has given each replica its share of the partitions.
            await arrive("", [datetime.now(UTC)] * 6, plate="9XYZ999")
            return all(len(app.pipeline.recent) for app in apps)

        await camera_bus.start()
        try:
            made = await first.post(
                "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
            )
            assert made.status_code == 201, made.text
            await eventually(both_consuming)
            warm_up = sum(len(app.pipeline.recent) for app in apps)
            before = datetime.now(UTC)
            # 1. Captured and consumed before the entry exists: the look-back's.
            await arrive("before", [before - timedelta(seconds=s) for s in (1, 30, 299)] * 4)
            await eventually(lambda: consumed(warm_up + 12))
            # 2. Captured before the entry, sent while it is being entered and indexed.
            captured = datetime.now(UTC) - timedelta(milliseconds=1)
            body = {"plate": "1ABC234", "list_name": "stolen", "reason": "stolen", "case_reference": "PV/8"}
            entered, _ = await asyncio.gather(
                first.post("/v1/hotlist", json=body, headers=supervisor),
                arrive("during", [captured] * 12),
            )
            assert entered.status_code == 201, entered.text
            entry_id = entered.json()["entry_id"]
            entered_at = datetime.fromisoformat(entered.json()["valid_from"])

            async def indexed_on_both() -> bool:
                states = [
                    (await client.get(f"/v1/hotlist/{entry_id}", headers=supervisor)).json()["indexed"]
                    for client in (first, second)
                ]
                return all(states)

            await eventually(indexed_on_both)
            await asyncio.sleep(1)  # both replicas' look-backs have run (every 0.2 s)
            # 3. Captured before the entry (the same millisecond, up to the skew ingest accepts),
            #    arriving after it was indexed and looked back on both replicas.
            late = [entered_at - timedelta(seconds=s) for s in (0.0005, 0.5, 1, 299)]
            await arrive("after", late * 3)
        finally:
            await camera_bus.stop()

        async def all_hit() -> bool:
            found = (await first.get("/v1/hits", params={"limit": 500}, headers=supervisor)).json()
            return len(found) >= len(sent)

        await eventually(all_hit)
        await asyncio.sleep(2)  # time for a wrong second hit to show
        rings = [
            {read.event_id for read in app.pipeline.recent.since(before - timedelta(hours=1))} for app in apps
        ]
        assert all(ring & set(sent) for ring in rings), "both replicas consumed reads of the entry's plate"
        found = (await first.get("/v1/hits", params={"limit": 500}, headers=supervisor)).json()
        assert sorted(h["read_event_id"] for h in found) == sorted(sent), "every read, exactly once"
        assert {h["entry_id"] for h in found} == {entry_id}
        assert all(h["hit_id"] == hit_event_id(h["read_event_id"], entry_id) for h in found)
        arrived = {
            label: [h["from_lookback"] for h in found if sent[h["read_event_id"]] == label]
            for label in ("before", "after")
        }
        assert all(arrived["before"]), "reads consumed before the entry: found by its look-back"
        assert not any(arrived["after"]), "reads arriving after its look-back: found by the index"


async def published_reads(bus: KafkaBus, topic: str, cameras: list[str], captured: datetime) -> list[str]:
    sent = []
    for camera in cameras:
        read = read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id=camera,
            captured_at=to_timestamp(captured),
            plate="1ABC234",
            confidence=0.9,
        )
        await bus.publish(topic, camera.encode(), read.SerializeToString())
        sent.append(read.meta.event_id)
    return sent


async def test_after_a_restart_an_entry_hits_a_car_read_before_it_once(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    options = MatchSettings(lookback_hours=4)
    topics = Topics(topic_prefix)
    camera_bus = KafkaBus(kafka_bootstrap, client_id="camera", topics=topics.all())
    cameras = [f"cam-{n}" for n in range(9)]
    async with replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "a", options) as (client, app):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        await camera_bus.start()
        try:
            sent = await published_reads(
                camera_bus, topics.reads, cameras, datetime.now(UTC) - timedelta(minutes=10)
            )
        finally:
            await camera_bus.stop()

        async def consumed() -> bool:
            return len(app.pipeline.recent) == len(sent)

        await eventually(consumed)
    # Stopped: its reads are committed, its memory gone. Its successor starts on the same topics.
    async with replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "b", options) as (client, app):

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready)
        pipeline = app.pipeline
        assert {r.event_id for r in pipeline.recent.since(datetime.now(UTC) - timedelta(hours=1))} == set(
            sent
        )
        assert pipeline.recent.consumed == 0, "nothing delivered again: the reads came from the restore"
        body = {"plate": "1ABC234", "list_name": "stolen", "reason": "stolen", "case_reference": "PV/9"}
        entered = await client.post("/v1/hotlist", json=body, headers=supervisor)
        assert entered.status_code == 201, entered.text
        entry_id = entered.json()["entry_id"]

        async def all_hit() -> bool:
            found = (await client.get("/v1/hits", params={"limit": 100}, headers=supervisor)).json()
            return len(found) >= len(sent)

        await eventually(all_hit)
        await asyncio.sleep(1)  # time for a wrong second hit to show
        found = (await client.get("/v1/hits", params={"limit": 100}, headers=supervisor)).json()
        assert sorted(h["read_event_id"] for h in found) == sorted(sent), "each read before the restart, once"
        assert all(h["hit_id"] == hit_event_id(h["read_event_id"], entry_id) for h in found)
        assert all(h["from_lookback"] for h in found)


async def test_a_replica_started_after_the_reads_has_them_and_either_look_back_gives_one_hit(
    kafka_bootstrap: str, topic_prefix: str, database_url: str, tmp_path: Path
) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    options = MatchSettings(lookback_hours=4)
    topics = Topics(topic_prefix)
    camera_bus = KafkaBus(kafka_bootstrap, client_id="camera", topics=topics.all())
    cameras = [f"cam-{n}" for n in range(9)]
    await camera_bus.start()
    try:
        async with replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "a", options) as (
            first,
            first_app,
        ):
            made = await first.post(
                "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
            )
            assert made.status_code == 201, made.text
            sent = await published_reads(
                camera_bus, topics.reads, cameras, datetime.now(UTC) - timedelta(minutes=10)
            )

            async def consumed() -> bool:
                return len(first_app.pipeline.recent) == len(sent)

            await eventually(consumed)
            async with replica(kafka_bootstrap, topic_prefix, database_url, tmp_path, "b", options) as (
                second,
                second_app,
            ):

                async def ready() -> bool:
                    return (await second.get("/readyz")).status_code == 200

                await eventually(ready)
                moment = datetime.now(UTC) - timedelta(hours=1)
                for app in (first_app, second_app):
                    assert {r.event_id for r in app.pipeline.recent.since(moment)} == set(sent)
                body = {
                    "plate": "1ABC234",
                    "list_name": "stolen",
                    "reason": "stolen",
                    "case_reference": "PV/9",
                }
                entered = await first.post("/v1/hotlist", json=body, headers=supervisor)
                assert entered.status_code == 201, entered.text
                entry_id = entered.json()["entry_id"]

                async def both_looked_back() -> bool:
                    # Each replica publishes the hits of its own look-back: two records a read.
                    records = [r async for batch in camera_bus.replay(topics.hits, 0) for r in batch]
                    return len(records) >= 2 * len(sent)

                await eventually(both_looked_back)
                await asyncio.sleep(1)  # time for a wrong third hit to show
                published: dict[str, set[str]] = {}
                async for batch in camera_bus.replay(topics.hits, 0):
                    for record in batch:
                        hit = hit_pb2.Hit.FromString(record.value)
                        published.setdefault(hit.read_event_id, set()).add(hit.meta.event_id)
                assert published == {read_id: {hit_event_id(read_id, entry_id)} for read_id in sent}
                found = (await first.get("/v1/hits", params={"limit": 100}, headers=supervisor)).json()
                assert sorted(h["read_event_id"] for h in found) == sorted(sent), "stored once each"
    finally:
        await camera_bus.stop()
