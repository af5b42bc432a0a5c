"""A search's total, on the database: the count agrees with the items its pages show (passages found
by their plate or by a read's, reads no stored passage claims), and stops one past its cap. On
SQLite and on real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from anpr_access.adapters.intake import IntakeStore
from anpr_access.adapters.migrations import HISTORY
from anpr_access.adapters.partitions import make_partitions_ahead
from anpr_access.adapters.search import SearchStore
from anpr_access.adapters.search_total import SearchTotals
from anpr_access.domain.records import PassageRecord, ReadRecord
from anpr_access.domain.search import ReadCriteria
from anpr_core.db import make_engine
from anpr_core.migrations import migrate
from anpr_core.plates import Confusables

pytestmark = pytest.mark.usefixtures("no_anpr_environment")
KEY = Confusables().key


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("database_url")
    return url


def read(plate: str, camera_id: str, at: datetime) -> ReadRecord:
    return ReadRecord(
        event_id=str(uuid.uuid4()),
        zone_id="5344",
        camera_id=camera_id,
        captured_at=at,
        direction="in",
        plate=plate,
        plate_key=KEY(plate),
        formatted=plate,
        country="BE",
        format_valid=True,
        confidence=0.9,
        candidates=[],
        box=[0, 0, 0, 0],
        frame_event_id="",
        camera_read=False,
        reader="test",
        plate_crop=None,
        overview=None,
    )


def passage(frames: list[ReadRecord], plate: str) -> PassageRecord:
    return PassageRecord(
        passage_id=f"{frames[0].camera_id}:{frames[0].event_id}",
        event_id=str(uuid.uuid4()),
        zone_id="5344",
        camera_id=frames[0].camera_id,
        direction="in",
        first_seen=frames[0].captured_at,
        last_seen=frames[-1].captured_at,
        plate=plate,
        plate_key=KEY(plate),
        formatted=plate,
        country="BE",
        confidence=0.9,
        read_ids=tuple(f.event_id for f in frames),
    )


async def all_items(store: SearchStore, criteria: ReadCriteria) -> list[str]:
    """Every item over all the pages of a search, two at a time."""
    shown: list[str] = []
    offset = 0
    while True:
        page = await store.find_passages(replace(criteria, offset=offset, limit=2))
        shown += [item.passage_id or item.reads[0].event_id for item in page[:2]]
        if len(page) <= 2:
            return shown
        offset += 2


async def test_the_total_is_what_the_pages_show_and_stops_past_its_cap(
    database: str | None, tmp_path: Path
) -> None:
    engine = make_engine(database, "access", tmp_path)
    now = datetime.now(UTC)
    try:
        await migrate(engine, None, HISTORY)  # `anpr migrate access`, then the service's partitions
        await make_partitions_ahead(engine, now)
        intake = IntakeStore(engine, engine)
        for n in range(5):  # cars of the wanted plate at cam-1, three reads each, one read misread
            first = now - timedelta(hours=n + 1)
            frames = [read("1ABC234", "cam-1", first + timedelta(seconds=k)) for k in range(2)]
            frames.append(read("1A8C234", "cam-1", first + timedelta(seconds=2)))
            for frame in frames:
                await intake.add_read(frame)
            await intake.add_passage(passage(frames, "1ABC234"))
        # A passage whose consensus is another plate, found by one of its reads' plates.
        first = now - timedelta(hours=7)
        other = [read("9XYZ999", "cam-2", first), read("1ABC234", "cam-2", first + timedelta(seconds=1))]
        for frame in other:
            await intake.add_read(frame)
        await intake.add_passage(passage(other, "9XYZ999"))
        # Reads no stored passage claims: each is an item of its own.
        for n in range(3):
            await intake.add_read(read("1ABC234", "cam-1", now - timedelta(hours=10 + n)))
        await intake.add_read(read("7QQQ777", "cam-1", now - timedelta(hours=20)))

        store, totals = SearchStore(engine), SearchTotals(engine)
        window = (now - timedelta(days=2), now + timedelta(minutes=1))
        searches = {
            "plate": ReadCriteria(*window, "1ABC234", None, None, None, 0, 50),
            "fuzzy": ReadCriteria(*window, None, KEY("IABC234"), None, None, 0, 50),
            "plate at a camera": ReadCriteria(*window, "1ABC234", None, "cam-1", None, 0, 50),
            "camera": ReadCriteria(*window, None, None, "cam-1", None, 0, 50),
            "camera, in": ReadCriteria(*window, None, None, "cam-2", "in", 0, 50),
            "nothing": ReadCriteria(*window, "5NOP555", None, None, None, 0, 50),
        }
        expected = {
            "plate": 9,
            "fuzzy": 9,
            "plate at a camera": 8,
            "camera": 9,
            "camera, in": 1,
            "nothing": 0,
        }
        for name, criteria in searches.items():
            shown = await all_items(store, criteria)
            assert len(shown) == len(set(shown)) == expected[name], name
            assert await totals.count_passages(criteria, 10_000) == expected[name], name
        # Past the cap the count says only "more": one past it, however many there are.
        assert await totals.count_passages(searches["plate"], 4) == 5
        assert await totals.count_passages(searches["camera"], 8) == 9
        assert await totals.count_passages(searches["camera"], 9) == 9
    finally:
        await engine.dispose()
