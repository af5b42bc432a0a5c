"""No wanted car missed: a read captured before an entry was entered but arriving after it is met
by exactly one of the two paths (the index, or the entry's look-back), whatever the order.

The domain rule first (one rule for both paths), then every ordering of "entry indexed",
"look-back runs", "read arrives" and "read redelivered" through the real pipeline (SQLite,
in-memory bus), then random interleavings of several entries and passages checked against a
model that shares no code with the index.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from anpr.v1 import hit_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine, session_factory
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.ids import new_event_id
from anpr_core.migrations import upgrade
from anpr_core.plates import Confusables
from anpr_core.testing import eventually, read_topic
from anpr_match.adapters.hit_store import HitRecorder, HitStore
from anpr_match.adapters.migrations import HISTORY
from anpr_match.adapters.tables import hits
from anpr_match.bootstrap import MatchService, build_service
from anpr_match.domain.dedupe import HitDeduplicator, hit_event_id
from anpr_match.domain.entries import (
    Category,
    Direction,
    HotlistEntry,
    ListRules,
    SeenRead,
    entered_at,
    wanted_from,
)
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads, look_back
from anpr_match.entrypoints.stream import HitStream
from anpr_match.handlers.matching import MatchPipeline
from anpr_match.settings import MatchSettings

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every time here is relative to the moment the tests run: nothing expires.
BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
LATE = timedelta(seconds=900)
RULES = ListRules("stolen", Category.STOLEN_VEHICLE)
TOPICS = Topics()

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def uuid7_at(moment: datetime, serial: int = 0) -> str:
    """A UUIDv7 with the given time, as match gives an entry it enters at that moment."""
    digits = f"{(moment - EPOCH) // timedelta(milliseconds=1):012x}"
    return f"{digits[:8]}-{digits[8:]}-7000-8000-{serial:012x}"


def entry_entered(
    entered: datetime,
    plate: str = "1ABC234",
    *,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    serial: int = 0,
) -> HotlistEntry:
    return HotlistEntry(
        entry_id=uuid7_at(entered, serial),
        plate=plate,
        list_name="stolen",
        category=Category.STOLEN_VEHICLE,
        priority=5,
        action="stop",
        valid_from=valid_from or entered,
        valid_until=valid_until,
        source_zone="5344",
        reason="reported stolen",
        case_reference="PV/1",
        entered_by="sue",
    )


def read_at(captured: datetime, plate: str = "1ABC234", camera: str = "cam-1") -> SeenRead:
    return SeenRead(new_event_id(), camera, captured, Direction.IN, ((plate, 0.9),))


# --- the rule ------------------------------------------------------------------------------------


def test_an_entry_id_carries_the_time_it_was_entered() -> None:
    moment = BASE + timedelta(milliseconds=123)
    assert entered_at(uuid7_at(moment)) == moment
    made_now = entered_at(new_event_id())
    assert made_now is not None and abs(made_now - datetime.now(UTC)) < timedelta(seconds=5)
    assert entered_at("e-1") is None
    assert entered_at("0195a1b2-c3d4-4e5f-8a9b-000000000001") is None, "a version 4 UUID has no time"
    other = HotlistEntry(**{**entry_entered(BASE).__dict__, "entry_id": "e-1"})
    assert other.entered_at == other.valid_from, "an id without a time: entered when it starts"


def test_an_entry_is_wanted_from_the_look_back_before_it_was_entered_unless_it_starts_later() -> None:
    hours = timedelta(hours=4)
    assert wanted_from(entry_entered(BASE), hours) == BASE - hours
    assert wanted_from(entry_entered(BASE), timedelta(0)) == BASE
    recent_start = BASE - timedelta(hours=1)
    assert wanted_from(entry_entered(BASE, valid_from=recent_start), hours) == BASE - hours
    old_start = BASE - timedelta(days=3)
    assert wanted_from(entry_entered(BASE, valid_from=old_start), hours) == old_start
    later_start = BASE + timedelta(days=1)
    assert wanted_from(entry_entered(BASE, valid_from=later_start), hours) == later_start


def expected_rule(entry: HotlistEntry, captured: datetime, lookback: timedelta) -> bool:
    """The rule written out again from the README, sharing no code with the index."""
    if entry.valid_until is not None and captured >= entry.valid_until:
        return False
    entered = entry.entered_at
    if entry.valid_from > entered:
        return captured >= entry.valid_from
    return captured >= entry.valid_from or captured >= entered - lookback


offsets = st.integers(min_value=-3 * 3600 * 1000, max_value=3 * 3600 * 1000).map(
    lambda ms: timedelta(milliseconds=ms)
)


@given(
    start=st.one_of(st.none(), offsets),
    length=st.one_of(st.none(), st.integers(1, 6 * 3600).map(lambda s: timedelta(seconds=s))),
    captured=offsets,
    lookback=st.sampled_from([timedelta(0), timedelta(seconds=60), timedelta(hours=1), timedelta(hours=4)]),
)
def test_the_index_and_the_look_back_apply_one_rule(
    start: timedelta | None, length: timedelta | None, captured: timedelta, lookback: timedelta
) -> None:
    valid_from = None if start is None else BASE + start
    until = None if length is None else (valid_from or BASE) + length
    entry = entry_entered(BASE, valid_from=valid_from, valid_until=until)
    read = read_at(BASE + captured)
    index = HotlistIndex(lookback=lookback)
    index.put(entry)
    by_index = bool(index.match(read.readings, read.captured_at, read.camera_id, read.direction))
    assert by_index == expected_rule(entry, read.captured_at, lookback)
    by_look_back = bool(look_back([entry], [RULES], [read], Confusables(), lookback=lookback, late=LATE))
    if read.captured_at >= BASE - max(lookback, LATE):
        # Such a read may arrive before the entry or after it: the same answer either way.
        assert by_look_back == by_index
    else:
        assert not by_look_back, "the look-back reaches no further back than max(lookback, late)"


def test_a_late_read_of_a_passage_already_hit_is_suppressed_after_newer_reads() -> None:
    dedup = HitDeduplicator(window_s=60, late_s=900)
    assert dedup.admit("e1", "cam-1", BASE, "read-1")
    # Other cameras' reads, captured minutes later, arrive first ...
    for n in range(10):
        assert dedup.admit("e1", f"cam-{n + 2}", BASE + timedelta(seconds=300 + n), f"other-{n}")
    # ... then the passage's next frame, 5 minutes late: the same car, no second hit.
    assert not dedup.admit("e1", "cam-1", BASE + timedelta(seconds=2), "read-2")
    # Memory stays bounded by the window and the lateness.
    for n in range(2000):
        dedup.admit(f"e{n}", "cam-1", BASE + timedelta(seconds=1000 + n), f"r{n}")
    assert len(dedup) <= 60 + 900 + 1


def test_a_hit_published_again_is_shown_once_on_the_live_stream() -> None:
    stream = HitStream(capacity=10, remembered=2)
    with stream.subscribe() as queue:
        for hit_id in ("h1", "h1", "h2", "h1", "h3"):  # h1 again: a read met by both paths
            stream.offer({"hit_id": hit_id})
        shown = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [hit["hit_id"] for hit in shown if hit] == ["h1", "h2", "h3"]


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


def orderings() -> list[tuple[str, ...]]:
    """Every order of: the entry indexed, its look-back run, the read arriving; and the read
    arriving a second time (redelivery) at every later point, or not. A last look-back settles."""
    found: list[tuple[str, ...]] = []
    for order in itertools.permutations(("entry", "look_back", "read")):
        found.append((*order, "look_back"))
        first = order.index("read")
        for at in range(first + 1, len(order) + 1):
            found.append((*order[:at], "read_again", *order[at:], "look_back"))
    return found


# Captured this long before the entry was entered (negative: after it). 0.0005 s: the same
# millisecond as the entry's id; 299.9 s: ingest's clock-skew limit; 899 s: the lateness allowed.
BEFORE_S = (0.0005, 0.4, 1.0, 59.0, 299.9, 899.0, -1.0)


async def test_every_ordering_of_entry_look_back_and_late_read_gives_exactly_one_hit(tmp_path: Path) -> None:
    cases = list(itertools.product(orderings(), BEFORE_S, (timedelta(hours=4), timedelta(0)), (False, True)))
    assert len(cases) == 18 * len(BEFORE_S) * 2 * 2
    async with pipelines(tmp_path) as (bus, sessions):
        for n, (order, before_s, lookback, busy) in enumerate(cases):
            pipeline = pipeline_on(bus, sessions, lookback)
            entered = BASE + timedelta(minutes=n)  # each case its own entry, read and camera
            entry = entry_entered(entered, serial=n)
            read = read_at(entered - timedelta(seconds=before_s), camera=f"cam-{n}")
            if busy:
                # A replica that has consumed other reads queues every new entry for a look-back;
                # an idle one (no reads yet) leaves later reads to the index alone.
                await pipeline.on_read(read_at(entered, "9XYZ999", f"other-{n}"))
            for step in order:
                if step == "entry":
                    pipeline.on_entry(entry)
                elif step == "look_back":
                    await pipeline.look_back_now()
                else:
                    await pipeline.on_read(read)
            wanted = before_s <= 0 or lookback > timedelta(0)
            stored = await stored_hits(sessions, [read.event_id])
            case = f"{order}, captured {before_s} s before, look-back {lookback}, busy {busy}"
            assert stored == ({(read.event_id, entry.entry_id): 1} if wanted else {}), case
    published = {hit_pb2.Hit.FromString(r.value).meta.event_id for r in await read_topic(bus, TOPICS.hits)}
    assert len(published) == sum(1 for _, before_s, lookback, _ in cases if before_s <= 0 or lookback)


async def test_an_entry_withdrawn_before_its_look_back_raises_nothing(tmp_path: Path) -> None:
    async with pipelines(tmp_path) as (bus, sessions):
        pipeline = pipeline_on(bus, sessions, timedelta(hours=4))
        entry = entry_entered(BASE)
        read = read_at(BASE - timedelta(seconds=30))
        await pipeline.on_read(read)
        pipeline.on_entry(entry)
        pipeline.index.remove(entry.entry_id)
        assert await pipeline.look_back_now() == 0
        assert await stored_hits(sessions, [read.event_id]) == {}


# --- random interleavings of several entries and passages -----------------------------------------


@dataclass(frozen=True)
class Passage:
    camera: str
    reads: tuple[SeenRead, ...]


PLATES = ("1ABC234", "1A8C234", "2XYZ789")

entries_strategy = st.lists(
    st.tuples(
        st.sampled_from(PLATES),
        st.integers(0, 60_000),  # entered this many ms after BASE
        st.sampled_from(["now", "past", "later"]),
        st.one_of(st.none(), st.integers(1, 1200)),  # ends this many s after it starts
    ),
    min_size=1,
    max_size=3,
)
# Captured this many ms after BASE. Any order of processing must be one that can happen: a read
# arrives at most LATE after its capture, so whatever is processed after a read or an entry was
# captured at most LATE before it. Captures span 882 s, entries are entered from BASE to BASE + 60 s.
passages_strategy = st.lists(
    st.tuples(
        st.sampled_from(PLATES),
        st.integers(-780_000, 100_000),
        st.integers(1, 2),  # frames of the passage, 2 s apart
    ),
    min_size=1,
    max_size=4,
)


def start_of(kind: str, entered: datetime) -> datetime | None:
    return {"now": None, "past": entered - timedelta(minutes=10), "later": entered + timedelta(seconds=30)}[
        kind
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    listed=entries_strategy,
    seen=passages_strategy,
    lookback=st.sampled_from([timedelta(0), timedelta(minutes=5), timedelta(hours=4)]),
    data=st.data(),
)
def test_any_interleaving_gives_each_passage_one_hit_per_entry_it_is_wanted_by(
    listed: list[tuple[str, int, str, int | None]],
    seen: list[tuple[str, int, int]],
    lookback: timedelta,
    data: st.DataObject,
) -> None:
    entries = []
    for n, (plate, entered_ms, kind, length_s) in enumerate(listed):
        entered = BASE + timedelta(milliseconds=entered_ms)
        start = start_of(kind, entered)
        until = None if length_s is None else (start or entered) + timedelta(seconds=length_s)
        entries.append(entry_entered(entered, plate, valid_from=start, valid_until=until, serial=n))
    passages = [
        Passage(
            f"cam-{n}",
            tuple(
                read_at(BASE + timedelta(milliseconds=at_ms, seconds=2 * frame), plate, f"cam-{n}")
                for frame in range(frames)
            ),
        )
        for n, (plate, at_ms, frames) in enumerate(seen)
    ]
    steps: list[tuple[str, int, int]] = [("entry", n, 0) for n in range(len(entries))]
    steps += [("read", p, f) for p, passage in enumerate(passages) for f in range(len(passage.reads))]
    steps += [("read", p, 0) for p in data.draw(st.lists(st.integers(0, len(passages) - 1), max_size=2))]
    steps += [("look_back", 0, 0)] * data.draw(st.integers(0, 3))
    order = data.draw(st.permutations(steps))
    asyncio.run(_interleave(entries, passages, order, lookback))


async def _interleave(
    entries: list[HotlistEntry],
    passages: list[Passage],
    order: Sequence[tuple[str, int, int]],
    lookback: timedelta,
) -> None:
    confusables = Confusables()
    with tempfile.TemporaryDirectory() as directory:
        async with pipelines(Path(directory)) as (bus, sessions):
            pipeline = pipeline_on(bus, sessions, lookback)
            for kind, first, second in order:
                if kind == "entry":
                    pipeline.on_entry(entries[first])
                elif kind == "read":
                    await pipeline.on_read(passages[first].reads[second])
                else:
                    await pipeline.look_back_now()
            await pipeline.look_back_now()
            read_ids = [read.event_id for passage in passages for read in passage.reads]
            stored = await stored_hits(sessions, read_ids)
            published = {
                hit_pb2.Hit.FromString(r.value).meta.event_id for r in await read_topic(bus, TOPICS.hits)
            }
    assert all(count == 1 for count in stored.values()), "one row per read and entry"
    assert published == {hit_event_id(read_id, entry_id) for read_id, entry_id in stored}
    camera_of = {read.event_id: p.camera for p in passages for read in p.reads}
    got: dict[tuple[str, str], int] = {}
    for read_id, entry_id in stored:
        key = (camera_of[read_id], entry_id)
        got[key] = got.get(key, 0) + 1
    # The plates differ by at most one confusable character: same canonical form, same match.
    expected = {
        (passage.camera, entry.entry_id): 1
        for passage in passages
        for entry in entries
        if any(
            confusables.canonical(read.readings[0][0]) == confusables.canonical(entry.plate)
            and expected_rule(entry, read.captured_at, lookback)
            for read in passage.reads
        )
    }
    assert got == expected, "each passage: one hit on each entry that wants it, none on the others"


# --- through the service: two replicas, REST and CSV entries ------------------------------------


@dataclass
class Replicas:
    first: MatchService
    second: MatchService
    client: httpx.AsyncClient  # the first replica's REST surface
    bus: MemoryBus
    supervisor: dict[str, str]

    @property
    def both(self) -> tuple[MatchService, MatchService]:
        return self.first, self.second

    async def idle(self) -> None:
        async def nothing_pending() -> bool:
            return self.bus.pending() == 0

        await eventually(nothing_pending)

    async def look_back(self) -> None:
        for app in self.both:
            await app.pipeline.look_back_now()

    async def indexed_everywhere(self, entry_id: str) -> None:
        async def indexed() -> bool:
            return all(entry_id in app.pipeline.index for app in self.both)

        await eventually(indexed)

    async def enter(self, how: str) -> str:
        if how == "rest":
            body = {"plate": "1ABC234", "list_name": "stolen", "reason": "stolen", "case_reference": "PV/7"}
            made = await self.client.post("/v1/hotlist", json=body, headers=self.supervisor)
            assert made.status_code == 201, made.text
            entry_id: str = made.json()["entry_id"]
            return entry_id
        text = "plate,list_name,reason,case_reference\n1ABC234,stolen,stolen,PV/7\n"
        imported = await self.client.post(
            "/v1/hotlist/import", content=text, headers={**self.supervisor, "Content-Type": "text/csv"}
        )
        assert imported.status_code == 201, imported.text
        listed = await self.client.get("/v1/hotlist", params={"plate": "1ABC234"}, headers=self.supervisor)
        [entry] = listed.json()
        return str(entry["entry_id"])


@pytest.fixture
async def replicas(tmp_path: Path) -> AsyncIterator[Replicas]:
    """Two match replicas on one bus and one database, as on Kafka and PostgreSQL; look-backs run
    when the test says (the background one waits a minute)."""
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    options = MatchSettings(data_dir=tmp_path, lookback_hours=4, lookback_interval_s=60)

    def replica() -> MatchService:
        return build_service(options, bus, make_engine(None, "match", tmp_path), issuer)

    first, second = replica(), replica()
    supervisor = {"Authorization": f"Bearer {issuer.issue('sue', Role.SUPERVISOR)}"}
    async with (
        first.app.router.lifespan_context(first.app),
        second.app.router.lifespan_context(second.app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first.app), base_url="http://test") as client,
    ):
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        yield Replicas(first, second, client, bus, supervisor)


# Enough cameras that the reads land on every partition, so on both replicas.
CAMERAS = [f"cam-{n}" for n in range(12)]


@pytest.mark.parametrize("how", ["rest", "csv"])
@pytest.mark.parametrize("order", ["before_indexed", "indexed_not_looked_back", "after_look_back"])
async def test_reads_captured_before_an_entry_hit_once_whenever_they_arrive(
    replicas: Replicas, how: str, order: str
) -> None:
    captured = datetime.now(UTC) - timedelta(seconds=2)
    sent: list[read_pb2.PlateRead] = []

    async def arrive() -> None:
        for camera in CAMERAS:
            read = read_pb2.PlateRead(
                meta=new_meta("5344", "detect"),
                camera_id=camera,
                captured_at=to_timestamp(captured),
                plate="1ABC234",
                confidence=0.9,
            )
            sent.append(read)
            await replicas.bus.publish(TOPICS.reads, camera.encode(), read.SerializeToString())
        await replicas.idle()

    if order == "before_indexed":
        await arrive()
    entry_id = await replicas.enter(how)
    await replicas.indexed_everywhere(entry_id)
    if order == "indexed_not_looked_back":
        await arrive()
    await replicas.look_back()
    if order == "after_look_back":
        await arrive()
    await replicas.look_back()
    await replicas.idle()

    assert all(len(app.pipeline.recent) for app in replicas.both), "both replicas got reads"
    published: dict[str, set[str]] = {}
    for record in await read_topic(replicas.bus, TOPICS.hits):
        hit = hit_pb2.Hit.FromString(record.value)
        published.setdefault(hit.read_event_id, set()).add(hit.meta.event_id)
    assert published == {read.meta.event_id: {hit_event_id(read.meta.event_id, entry_id)} for read in sent}
    operator = {"Authorization": replicas.supervisor["Authorization"]}
    stored = await replicas.client.get("/v1/hits", params={"limit": 100}, headers=operator)
    assert stored.status_code == 200, stored.text
    assert sorted(h["read_event_id"] for h in stored.json()) == sorted(r.meta.event_id for r in sent)
