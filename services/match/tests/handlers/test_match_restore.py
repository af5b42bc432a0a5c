"""A wanted car seen before match restarted (or before a replica was added) and listed after it is
still found: at its start a replica restores the look-back's reads from the reads topic, newest
first, and readiness waits for it. The store, then every ordering of restore, look-back, entry
and redelivery through the real pipeline, then restarts and a second replica through the service
(in-memory bus, SQLite). On Kafka and PostgreSQL: test_match_kafka.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from anpr.v1 import hit_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus, Record
from anpr_core.db import make_engine, session_factory
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.ids import new_event_id
from anpr_core.migrations import upgrade
from anpr_core.testing import eventually, read_topic
from anpr_match.adapters.hit_store import HitRecorder, HitStore
from anpr_match.adapters.migrations import HISTORY
from anpr_match.adapters.tables import hits
from anpr_match.bootstrap import MatchService, build_service
from anpr_match.domain.dedupe import HitDeduplicator, hit_event_id
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules, SeenRead
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads, restore_windows
from anpr_match.handlers.matching import RESTART_OVERLAP, MatchPipeline
from anpr_match.settings import MatchSettings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = datetime.now(UTC).replace(microsecond=0)
LATE = timedelta(seconds=900)
RULES = ListRules("stolen", Category.STOLEN_VEHICLE)
TOPICS = Topics()

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def uuid7_at(moment: datetime, serial: int = 0) -> str:
    digits = f"{(moment - EPOCH) // timedelta(milliseconds=1):012x}"
    return f"{digits[:8]}-{digits[8:]}-7000-8000-{serial:012x}"


def entry_entered(entered: datetime, serial: int = 0, list_name: str = "stolen") -> HotlistEntry:
    return HotlistEntry(
        entry_id=uuid7_at(entered, serial),
        plate="1ABC234",
        list_name=list_name,
        category=Category.STOLEN_VEHICLE,
        priority=5,
        action="stop",
        valid_from=entered,
        valid_until=None,
        source_zone="5344",
        reason="reported stolen",
        case_reference="PV/1",
        entered_by="sue",
    )


def read_at(captured: datetime, camera: str = "cam-1", plate: str = "1ABC234") -> SeenRead:
    return SeenRead(new_event_id(), camera, captured, Direction.IN, ((plate, 0.9),))


def ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


# --- the store ---------------------------------------------------------------------------------


def test_the_store_keeps_each_read_once_however_often_it_comes() -> None:
    recent = RecentReads(capacity=10)
    read = read_at(NOW)
    recent.add(read)
    recent.add(read)  # redelivered
    older = read_at(NOW - timedelta(minutes=5))
    assert recent.restore([read, older, older]) == [older], "restored: only what was not here"
    assert recent.restore([older]) == []
    assert len(recent) == 2
    assert sorted(r.event_id for r in recent.since(NOW - timedelta(hours=1))) == sorted(
        [read.event_id, older.event_id]
    )


def test_restored_reads_fill_the_room_left_newest_first_and_go_first_when_it_is_full() -> None:
    recent = RecentReads(capacity=4)
    consumed = [read_at(NOW - timedelta(seconds=s)) for s in (2, 1)]
    for read in consumed:
        recent.add(read)
    window = [read_at(NOW - timedelta(minutes=m)) for m in (5, 1, 9, 3)]
    kept = recent.restore(window)
    assert kept == [window[3], window[1]], "the newest the room holds, oldest first"
    assert recent.room == 0
    assert recent.restore([read_at(NOW - timedelta(minutes=20))]) == [], "no room: an older one is dropped"
    assert recent.consumed == 2
    assert recent.since(NOW - timedelta(hours=1), restored=False) == consumed
    newer = read_at(NOW)
    recent.add(newer)
    assert [r.event_id for r in recent.since(NOW - timedelta(hours=1))] == [
        window[1].event_id,
        *(r.event_id for r in consumed),
        newer.event_id,
    ], "the oldest restored read made way"


def test_restore_windows_go_newest_first_and_tile_the_reach_without_gap_or_overlap() -> None:
    started = ms(NOW)
    reach = timedelta(hours=4, minutes=16)
    windows = restore_windows(started, ms(EPOCH + reach), ms(EPOCH + LATE))
    assert windows[0] == (started - ms(EPOCH + LATE), None), "first the last 15 minutes, to the end"
    assert windows[-1][0] == started - ms(EPOCH + reach)
    for (since, _), (_, until) in itertools.pairwise(windows):
        assert until == since, "each window ends where the newer one begins"
    back = [started - since for since, _ in windows]
    assert back[:-1] == [back[0] * 2**n for n in range(len(back) - 1)], "each twice as far back"
    assert back[-2] < back[-1] <= 2 * back[-2]
    assert restore_windows(started, 0, 1000) == [(started, None)]


# --- every ordering, through the pipeline --------------------------------------------------------


@asynccontextmanager
async def pipelines(directory: Path) -> AsyncIterator[tuple[MemoryBus, object]]:
    engine = make_engine(None, "match", directory)
    await upgrade(engine, HISTORY)  # as the embedded mode's match at start
    try:
        yield MemoryBus(), session_factory(engine)
    finally:
        await engine.dispose()


def pipeline_on(bus: MemoryBus, sessions: object, lookback: timedelta) -> MatchPipeline:
    index = HotlistIndex(lookback=lookback)
    index.set_rules(RULES)
    index.set_rules(ListRules("seized", Category.SEIZED))
    return MatchPipeline(
        index=index,
        recent=RecentReads(10_000),
        dedup=HitDeduplicator(60, LATE.total_seconds()),
        hits=HitRecorder(HitStore(sessions), bus, TOPICS.hits, "5344"),  # type: ignore[arg-type]
        late=LATE,
    )


async def stored_hits(sessions: object, read_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    async with sessions() as session:  # type: ignore[operator]
        rows = (
            await session.execute(
                select(hits.c.read_event_id, hits.c.entry_id, func.count())
                .where(hits.c.read_event_id.in_(read_ids))
                .group_by(hits.c.read_event_id, hits.c.entry_id)
            )
        ).all()
    return {(row[0], row[1]): int(row[2]) for row in rows}


async def published_hits(bus: MemoryBus) -> set[str]:
    return {hit_pb2.Hit.FromString(r.value).meta.event_id for r in await read_topic(bus, TOPICS.hits)}


def restart_orderings() -> list[tuple[str, ...]]:
    """A read consumed before the restart and an entry made after it: every order of the entry
    indexed, its look-back, the read restored; with the read also redelivered to this replica's
    consumer at any point (or not); the restore ends at any point after the read is restored."""
    found = []
    for order in itertools.permutations(("entry", "look_back", "restore")):
        for redelivered in range(len(order) + 1):
            steps = list(order)
            if redelivered < len(order):
                steps.insert(redelivered, "consume")
            for ended in range(steps.index("restore") + 1, len(steps) + 1):
                found.append((*steps[:ended], "end_restore", *steps[ended:], "look_back"))
    return found


async def test_every_ordering_of_restore_look_back_entry_and_redelivery_gives_exactly_one_hit(
    tmp_path: Path,
) -> None:
    cases = list(
        itertools.product(restart_orderings(), (1.0, 299.9, 899.0), (timedelta(hours=4), timedelta(0)))
    )
    async with pipelines(tmp_path) as (bus, sessions):
        expected: set[str] = set()
        for n, (order, before_s, lookback) in enumerate(cases):
            pipeline = pipeline_on(bus, sessions, lookback)
            started = NOW + timedelta(minutes=n)
            pipeline.begin_restore(ms(started))
            entry = entry_entered(started + timedelta(seconds=5), serial=n)
            read = read_at(entry.entered_at - timedelta(seconds=before_s), camera=f"cam-{n}")
            for step in order:
                if step == "entry":
                    pipeline.on_entry(entry, fresh=pipeline.fresh(ms(entry.entered_at)))
                elif step == "look_back":
                    await pipeline.look_back_now()
                elif step == "restore":
                    await pipeline.restore_reads([read])
                elif step == "consume":
                    await pipeline.on_read(read)
                else:
                    pipeline.end_restore()
            # Wanted when the entry reaches back to the read's capture (a look-back of hours).
            wanted = lookback > timedelta(0)
            stored = await stored_hits(sessions, [read.event_id])
            case = f"{order}, captured {before_s} s before, look-back {lookback}"
            assert stored == ({(read.event_id, entry.entry_id): 1} if wanted else {}), case
            if wanted:
                expected.add(hit_event_id(read.event_id, entry.entry_id))
        assert await published_hits(bus) == expected


async def test_a_change_published_before_the_start_is_looked_back_over_consumed_reads_only(
    tmp_path: Path,
) -> None:
    async with pipelines(tmp_path) as (bus, sessions):
        pipeline = pipeline_on(bus, sessions, timedelta(hours=4))
        started = datetime.now(UTC).replace(microsecond=0)  # entries' ids hold milliseconds
        pipeline.begin_restore(ms(started))
        assert pipeline.fresh(ms(started - RESTART_OVERLAP + timedelta(seconds=1)))
        assert not pipeline.fresh(ms(started - RESTART_OVERLAP - timedelta(seconds=1)))
        before = read_at(started - timedelta(minutes=10), "cam-1")
        await pipeline.restore_reads([before])
        redelivered = read_at(started - timedelta(minutes=9), "cam-2")
        await pipeline.on_read(redelivered)
        # Entered yesterday; replayed from the hotlist topic at this start: the replica that ran
        # before already looked it back over `before` (its hit, if due, exists).
        old = entry_entered(started - timedelta(days=1), serial=1)
        pipeline.on_entry(old, fresh=pipeline.fresh(ms(started - timedelta(days=1))))
        made = entry_entered(started + timedelta(seconds=1), serial=2, list_name="seized")
        pipeline.on_entry(made, fresh=pipeline.fresh(ms(started + timedelta(seconds=1))))
        await pipeline.look_back_now()
        pipeline.end_restore()
        assert await stored_hits(sessions, [before.event_id, redelivered.event_id]) == {
            (redelivered.event_id, old.entry_id): 1,
            (before.event_id, made.entry_id): 1,
            (redelivered.event_id, made.entry_id): 1,
        }


async def test_a_restored_passage_gives_its_first_read_the_hit_whichever_replica_looks_back(
    tmp_path: Path,
) -> None:
    """Two frames of one passage, restored on one replica in one order and consumed on another in
    the other: both look-backs hit the earlier frame, so the passage has one hit, not two."""
    async with pipelines(tmp_path) as (bus, sessions):
        first, second = (pipeline_on(bus, sessions, timedelta(hours=4)) for _ in range(2))
        frames = [read_at(NOW - timedelta(minutes=10, seconds=s), "cam-1") for s in (0, 2)]
        second.begin_restore(ms(NOW))
        await second.restore_reads(frames)
        for frame in frames:
            await first.on_read(frame)
        entry = entry_entered(NOW + timedelta(seconds=1))
        for pipeline in (first, second):
            pipeline.on_entry(entry)
            await pipeline.look_back_now()
        assert await stored_hits(sessions, [f.event_id for f in frames]) == {
            (frames[1].event_id, entry.entry_id): 1
        }


# --- through the service: a restart, a new replica ------------------------------------------------


class GatedReplay(MemoryBus):
    """The in-process bus, whose replays wait until the test opens the gate (a slow restore):
    `gate` holds every window, `older` the windows before the newest."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.older = asyncio.Event()
        self.older.set()
        self.windows: list[tuple[int, int | None]] = []

    async def replay(
        self, topic: str, since_ms: int, until_ms: int | None = None, *, max_records: int = 5000
    ) -> AsyncIterator[list[Record]]:
        self.windows.append((since_ms, until_ms))
        await self.gate.wait()
        if until_ms is not None:
            await self.older.wait()
        async for batch in super().replay(topic, since_ms, until_ms, max_records=max_records):
            yield batch


class Site:
    """Match replicas on one bus and one database, started and stopped as the test says."""

    def __init__(self, tmp_path: Path, stack: AsyncExitStack) -> None:
        self.bus = GatedReplay()
        self.issuer = DevIssuer(tmp_path / "key.pem")
        self.tmp_path = tmp_path
        self.stack = stack
        self.supervisor = {"Authorization": f"Bearer {self.issuer.issue('sue', Role.SUPERVISOR)}"}

    @asynccontextmanager
    async def replica(self) -> AsyncIterator[tuple[MatchService, httpx.AsyncClient]]:
        options = MatchSettings(data_dir=self.tmp_path, lookback_hours=4, lookback_interval_s=60)
        engine = make_engine(None, "match", self.tmp_path)
        service = build_service(options, self.bus, engine, self.issuer)
        app = service.app
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
            ):
                yield service, client
        finally:
            await engine.dispose()

    async def start(self) -> tuple[MatchService, httpx.AsyncClient]:
        return await self.stack.enter_async_context(self.replica())

    async def read(self, cameras: Sequence[str], captured: datetime) -> list[str]:
        sent = []
        for camera in cameras:
            read = read_pb2.PlateRead(
                meta=new_meta("5344", "detect"),
                camera_id=camera,
                captured_at=to_timestamp(captured),
                plate="1ABC234",
                confidence=0.9,
            )
            await self.bus.publish(TOPICS.reads, camera.encode(), read.SerializeToString())
            sent.append(read.meta.event_id)
        return sent

    async def enter(self, client: httpx.AsyncClient) -> str:
        body = {"plate": "1ABC234", "list_name": "stolen", "reason": "stolen", "case_reference": "PV/7"}
        made = await client.post("/v1/hotlist", json=body, headers=self.supervisor)
        assert made.status_code == 201, made.text
        entry_id: str = made.json()["entry_id"]

        async def indexed() -> bool:
            # Announced through the outbox: indexed once the relay has published it.
            answer = await client.get(f"/v1/hotlist/{entry_id}", headers=self.supervisor)
            return bool(answer.json()["indexed"])

        await eventually(indexed)
        return entry_id

    async def hits(self, client: httpx.AsyncClient) -> list[dict[str, object]]:
        found = await client.get("/v1/hits", params={"limit": 100}, headers=self.supervisor)
        assert found.status_code == 200, found.text
        listed: list[dict[str, object]] = found.json()
        return listed

    async def published(self) -> dict[str, set[str]]:
        by_read: dict[str, set[str]] = {}
        for record in await read_topic(self.bus, TOPICS.hits):
            hit = hit_pb2.Hit.FromString(record.value)
            by_read.setdefault(hit.read_event_id, set()).add(hit.meta.event_id)
        return by_read


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with AsyncExitStack() as stack:
        yield Site(tmp_path, stack)


async def ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


# Enough cameras that the reads land on every partition.
CAMERAS = [f"cam-{n}" for n in range(12)]


async def test_an_entry_made_after_a_restart_hits_a_car_read_before_it_once(site: Site) -> None:
    async with site.replica() as (before, client):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=site.supervisor
        )
        assert made.status_code == 201, made.text
        sent = await site.read(CAMERAS, datetime.now(UTC) - timedelta(minutes=10))

        async def consumed() -> bool:
            return site.bus.pending() == 0 and len(before.pipeline.recent) == len(sent)

        await eventually(consumed)
    # Stopped (a deploy, a crash): its reads are committed and its memory is gone.
    after, client = await site.start()
    await eventually(lambda: ready(client))
    pipeline = after.pipeline
    assert pipeline.recent.consumed == 0, "nothing was delivered again: the reads came from the restore"
    assert {r.event_id for r in pipeline.recent.since(datetime.now(UTC) - timedelta(hours=1))} == set(sent)
    entry_id = await site.enter(client)
    await pipeline.look_back_now()
    found = await site.hits(client)
    assert sorted(str(h["read_event_id"]) for h in found) == sorted(sent), (
        "every read before the restart, once"
    )
    assert all(h["hit_id"] == hit_event_id(str(h["read_event_id"]), entry_id) for h in found)
    assert all(h["from_lookback"] for h in found)
    assert await site.published() == {read_id: {hit_event_id(read_id, entry_id)} for read_id in sent}


async def test_a_replica_started_after_the_reads_has_them_and_either_look_back_gives_one_hit(
    site: Site,
) -> None:
    first, client = await site.start()
    made = await client.post(
        "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=site.supervisor
    )
    assert made.status_code == 201, made.text
    sent = await site.read(CAMERAS, datetime.now(UTC) - timedelta(minutes=10))

    async def consumed() -> bool:
        return site.bus.pending() == 0

    await eventually(consumed)
    second, second_client = await site.start()
    await eventually(lambda: ready(second_client))
    moment = datetime.now(UTC) - timedelta(hours=1)
    for app in (first, second):
        assert {r.event_id for r in app.pipeline.recent.since(moment)} == set(sent)
    entry_id = await site.enter(client)

    async def indexed_on_both() -> bool:
        return all(entry_id in app.pipeline.index for app in (first, second))

    await eventually(indexed_on_both)
    assert await first.pipeline.look_back_now() == len(sent)
    assert await second.pipeline.look_back_now() == len(sent), "the same hits, again"
    found = await site.hits(client)
    assert sorted(str(h["read_event_id"]) for h in found) == sorted(sent)
    assert await site.published() == {read_id: {hit_event_id(read_id, entry_id)} for read_id in sent}


async def test_readiness_waits_for_the_newest_reads_and_an_entry_made_meanwhile_still_hits_once(
    site: Site,
) -> None:
    async with site.replica() as (before, client):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=site.supervisor
        )
        assert made.status_code == 201, made.text
        sent = await site.read(CAMERAS, datetime.now(UTC) - timedelta(minutes=10))

        async def consumed() -> bool:
            return site.bus.pending() == 0

        await eventually(consumed)
    site.bus.gate.clear()
    after, client = await site.start()
    pipeline = after.pipeline
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"] == {"bus": True, "database": True, "recent_reads": False}
    # Made, indexed and looked back while the reads of before the restart are not back yet.
    entry_id = await site.enter(client)
    assert await pipeline.look_back_now() == 0
    site.bus.gate.set()
    await eventually(lambda: ready(client))
    await pipeline.look_back_now()
    found = await site.hits(client)
    assert sorted(str(h["read_event_id"]) for h in found) == sorted(sent), "found when they came back, once"
    assert await site.published() == {read_id: {hit_event_id(read_id, entry_id)} for read_id in sent}


async def test_a_restart_just_after_an_entry_raises_no_second_hit_for_it(site: Site) -> None:
    async with site.replica() as (before, client):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=site.supervisor
        )
        assert made.status_code == 201, made.text
        sent = await site.read(CAMERAS[:3], datetime.now(UTC) - timedelta(minutes=10))

        async def consumed() -> bool:
            return site.bus.pending() == 0

        await eventually(consumed)
        entry_id = await site.enter(client)
        assert await before.pipeline.look_back_now() == 3
    hits_before = await site.published()
    after, client = await site.start()
    await eventually(lambda: ready(client))
    # The entry was made seconds ago, within the overlap: looked back again over the restored
    # reads, it gives the same hits (same ids), stored once.
    await after.pipeline.look_back_now()
    assert await site.published() == hits_before == {r: {hit_event_id(r, entry_id)} for r in sent}
    assert len(await site.hits(client)) == 3


async def test_readiness_waits_for_the_newest_window_only_and_the_older_ones_follow(site: Site) -> None:
    async with site.replica() as (_before, client):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=site.supervisor
        )
        assert made.status_code == 201, made.text
    site.bus.older.clear()
    site.bus.windows.clear()
    after, client = await site.start()
    await eventually(lambda: ready(client))
    pipeline = after.pipeline
    assert pipeline.restoring, "ready while the older windows are still to come"
    assert [until for _, until in site.bus.windows] == [None, site.bus.windows[0][0]]
    site.bus.older.set()

    async def restored() -> bool:
        return not pipeline.restoring

    await eventually(restored)
    windows = site.bus.windows
    started_ms = windows[0][0] + 15 * 60 * 1000
    assert windows[0] == (started_ms - 15 * 60 * 1000, None), "the last 15 minutes first"
    # Back to the look-back (4 h) + the overlap (60 s) + the late allowance (15 min), in order.
    assert windows[-1][0] == started_ms - (4 * 3600 + 60 + 900) * 1000
    assert all(newer[0] == older[1] for newer, older in itertools.pairwise(windows))
