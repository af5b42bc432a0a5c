"""The look-back's store keeps each read packed, and gives back exactly the read it was given."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from anpr_core.plates import Confusables
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules, SeenRead
from anpr_match.domain.recent import RecentReads, look_back

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

event_ids = st.one_of(
    st.uuids().map(str),  # as match and ingest make them
    st.uuids().map(lambda u: str(u).upper()),
    st.text(max_size=40),
)
reads = st.builds(
    SeenRead,
    event_id=event_ids,
    camera_id=st.text(max_size=64),
    captured_at=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    direction=st.sampled_from(Direction),
    readings=st.lists(
        st.tuples(st.text(max_size=20), st.floats(allow_nan=False)), min_size=1, max_size=4
    ).map(tuple),
)


@given(st.lists(reads, max_size=20, unique_by=lambda read: read.event_id))
def test_a_read_kept_comes_back_as_it_was_given(given_reads: list[SeenRead]) -> None:
    consumed, restored = RecentReads(100), RecentReads(100)
    for read in given_reads:
        consumed.add(read)
    restored.restore(given_reads)
    assert consumed.since(EPOCH) == given_reads
    assert sorted(restored.since(EPOCH), key=lambda r: (r.captured_at, r.event_id)) == sorted(
        given_reads, key=lambda r: (r.captured_at, r.event_id)
    )


def test_a_read_is_kept_once_by_its_event_id_whatever_its_case_of_packing() -> None:
    moment = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    store = RecentReads(10)
    read = SeenRead(event_id, "cam-1", moment, Direction.IN, (("1ABC234", 0.9),))
    store.add(read)
    store.add(read)
    assert store.restore([read]) == []
    assert len(store) == 1
    assert store.since(moment) == [read]
    assert store.since(moment + timedelta(microseconds=1)) == [], "captured to the microsecond"


NOW = datetime.now(UTC).replace(microsecond=0)
PLATES = ("1ABC234", "1A8C234", "IABC234", "1ABC2345", "9XYZ999")


def uuid7_at(moment: datetime, serial: int) -> str:
    digits = f"{(moment - EPOCH) // timedelta(milliseconds=1):012x}"
    return f"{digits[:8]}-{digits[8:]}-7000-8000-{serial:012x}"


@given(
    seen=st.lists(
        st.tuples(
            st.lists(st.sampled_from(PLATES), min_size=1, max_size=3),
            st.integers(-3600, 600),
            st.sampled_from(Direction),
        ),
        max_size=30,
    ),
    listed=st.lists(st.tuples(st.sampled_from(PLATES), st.integers(0, 600)), min_size=1, max_size=3),
    restored=st.booleans(),
)
def test_a_look_back_over_the_store_finds_what_one_over_its_reads_finds(
    seen: list[tuple[list[str], int, Direction]], listed: list[tuple[str, int]], restored: bool
) -> None:
    store = RecentReads(100)
    reads = [
        SeenRead(str(uuid.uuid4()), f"cam-{n % 3}", NOW + timedelta(seconds=at), direction, readings)
        for n, (plates, at, direction) in enumerate(seen)
        for readings in [tuple((plate, 0.9 - 0.1 * k) for k, plate in enumerate(plates))]
    ]
    store.restore(reads[: len(reads) // 2])
    for read in reads[len(reads) // 2 :]:
        store.add(read)
    entries = [
        HotlistEntry(
            entry_id=uuid7_at(NOW + timedelta(seconds=at), n),
            plate=plate,
            list_name="wanted",
            category=Category.WANTED_PERSON,
            priority=1,
            action="stop",
            valid_from=NOW + timedelta(seconds=at),
            valid_until=None,
            source_zone="5344",
            reason="r",
            case_reference="PV/1",
            entered_by="sue",
        )
        for n, (plate, at) in enumerate(listed)
    ]
    rules = [ListRules("wanted", Category.WANTED_PERSON, max_substitutions=2, allow_edit=True)]
    lookback, late = timedelta(minutes=30), timedelta(minutes=15)
    packed = look_back(entries, rules, store, Confusables(), lookback=lookback, late=late, restored=restored)
    kept = store.since(EPOCH, restored=restored)
    unpacked = look_back(entries, rules, kept, Confusables(), lookback=lookback, late=late)
    assert packed == unpacked
