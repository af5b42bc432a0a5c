"""Match's wire codecs: hotlist events round-trip their entry, a hit carries its read and entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from anpr.v1 import hit_pb2, read_pb2
from anpr_core.events import new_meta, to_timestamp
from anpr_match.adapters.codecs import entry_from_event, entry_to_event, hit_for, readings_of, seen_read_of
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.domain.entries import Category, HotlistEntry
from anpr_match.domain.index import HotlistIndex

# Relative to the day the tests run: no date here expires.
NOW = datetime.now(UTC).replace(microsecond=0)


def entry(
    entry_id: str = "e-1",
    plate: str = "1ABC234",
    priority: int = 1,
    valid_from: datetime = NOW - timedelta(days=1),
    valid_until: datetime | None = None,
) -> HotlistEntry:
    return HotlistEntry(
        entry_id=entry_id,
        plate=plate,
        list_name="stolen",
        category=Category.STOLEN_VEHICLE,
        priority=priority,
        action="stop and check",
        valid_from=valid_from,
        valid_until=valid_until,
        source_zone="5344",
        reason="reported stolen",
        case_reference="PV/2026/123",
        entered_by="alice",
    )


def test_hotlist_event_round_trips_the_entry() -> None:
    listed = entry(valid_until=NOW + timedelta(days=30))
    assert entry_from_event(entry_to_event(listed, "5344")) == listed
    open_ended = entry()
    assert entry_from_event(entry_to_event(open_ended, "5344")) == open_ended


def test_hit_for_a_read_carries_the_read_and_the_entry() -> None:
    read = read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(NOW),
        plate="1ABC284",
        confidence=0.9,
        candidates=[read_pb2.PlateCandidate(text="1ABC234", confidence=0.6)],
    )
    assert [text for text, _ in readings_of(read)] == ["1ABC284", "1ABC234"]
    assert [confidence for _, confidence in readings_of(read)] == pytest.approx([0.9, 0.6])
    index = HotlistIndex()
    index.put(entry())
    [match] = index.match(readings_of(read), NOW)
    hit = hit_for(seen_read_of(read), match, "5344")
    assert hit.meta.event_id == hit_event_id(read.meta.event_id, "e-1")
    assert hit.read_event_id == read.meta.event_id
    assert hit.hotlist_entry_id == "e-1"
    assert (hit.plate_read, hit.plate_listed) == ("1ABC234", "1ABC234")
    assert hit.match_kind == hit_pb2.MATCH_KIND_EXACT
    assert hit.camera_id == "cam-1"
    assert hit.captured_at == read.captured_at
