"""Passages as reads happen: capture time decides membership, each camera's own clock when one is
due; a read given twice joins once; the events carry what the reads said, under stable ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from anpr.v1 import common_pb2, read_pb2
from anpr_core.events import new_meta, to_timestamp
from anpr_core.ids import new_event_id
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.wire import derived_event_id
from anpr_detect.domain.passages import LivePassages, PassageTracker, Sighting

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def sighting(read_id: str, plate: str, at: float, camera: str = "cam-1") -> Sighting:
    return Sighting(read_id, camera, plate, 0.9, at)


def test_a_read_given_twice_joins_its_passage_once() -> None:
    tracker = PassageTracker(window_s=3.0)
    assert tracker.add(sighting("r1", "1ABC234", 100.0)) == "cam-1:r1"
    assert tracker.add(sighting("r2", "1ABC234", 100.5)) == "cam-1:r1"
    assert tracker.add(sighting("r2", "1ABC234", 100.5)) == "cam-1:r1"
    [passage] = tracker.close_all()
    assert passage.read_ids == ("r1", "r2")


def test_closing_one_camera_leaves_the_others_open() -> None:
    tracker = PassageTracker(window_s=3.0)
    tracker.add(sighting("a", "1ABC234", 100.0))
    tracker.add(sighting("b", "2XYZ789", 100.0, camera="cam-2"))
    [closed] = tracker.close_due(200.0, "cam-1")
    assert closed.camera_id == "cam-1"
    assert not tracker.has_open("cam-1")
    assert tracker.has_open("cam-2")


def test_a_quiet_camera_closes_by_the_wall_clock_a_busy_one_by_its_capture_times() -> None:
    live = LivePassages(window_s=3.0)
    # cam-1's clock is far behind cam-2's: that must not close cam-1's passage.
    live.add(sighting("a", "1ABC234", 100.0), wall=0.0)
    live.add(sighting("b", "2XYZ789", 9_000.0, camera="cam-2"), wall=0.0)
    assert live.close_due(wall=2.9) == []
    # cam-2 reads another car 5 s of capture time later, at once: its first car is done.
    live.add(sighting("c", "3DEF456", 9_005.0, camera="cam-2"), wall=2.9)
    assert [p.read_ids for p in live.close_due(wall=2.9)] == [("b",)]
    # Both cameras then go quiet: the wall clock closes what is left, once.
    assert [p.read_ids for p in live.close_due(wall=3.1)] == [("a",)]
    assert [p.read_ids for p in live.close_due(wall=6.0)] == [("c",)]
    assert live.close_due(wall=100.0) == []
    assert live.close_all() == []


def test_a_late_frame_of_the_same_car_still_joins_its_passage() -> None:
    live = LivePassages(window_s=3.0)
    live.add(sighting("r2", "1ABC234", 100.5), wall=0.0)
    # The earlier frame comes second (read out of order): membership is by capture time.
    assert live.add(sighting("r1", "1A8C234", 100.0), wall=0.1) == "cam-1:r2"
    # Due by the camera's latest capture (100.5), not by the later arrival of the earlier frame.
    assert live.close_due(wall=2.9) == []
    [passage] = live.close_due(wall=3.1)
    assert (passage.first_at, passage.last_at) == (100.0, 100.5)


def test_derived_ids_are_stable_time_ordered_uuid7s() -> None:
    frame_id = new_event_id()
    first = derived_event_id(frame_id, "read/0")
    assert first == derived_event_id(frame_id, "read/0")
    assert first != derived_event_id(frame_id, "read/1")
    assert uuid.UUID(first).version == 7
    assert uuid.UUID(first).int >> 80 == uuid.UUID(frame_id).int >> 80  # the frame's milliseconds
    assert uuid.UUID(derived_event_id("not-a-uuid", "read/0")).version == 7


def plate_read(plate: str, formatted: str, seconds: float, confidence: float) -> read_pb2.PlateRead:
    return read_pb2.PlateRead(
        meta=new_meta("zone-1", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(START + timedelta(seconds=seconds)),
        direction=common_pb2.DIRECTION_OUT,
        plate=plate,
        formatted=formatted,
        country="BE" if formatted else "",
        confidence=confidence,
    )


def test_the_feed_stamps_reads_and_turns_a_due_passage_into_one_event() -> None:
    wall = [0.0]
    feed = PassageFeed(window_s=2.0, zone_id="zone-1", clock=lambda: wall[0])
    reads = [
        plate_read("1A8C234", "", 0.0, 0.6),  # a misread the grammar did not format
        plate_read("1ABC234", "1-ABC-234", 0.3, 0.9),
        plate_read("", "", 0.4, 0.1),  # nothing read: in no passage
    ]
    feed.join(reads)
    assert reads[0].passage_id == reads[1].passage_id == f"cam-1:{reads[0].meta.event_id}"
    assert reads[2].passage_id == ""
    assert feed.due() == []
    wall[0] = 2.5
    [event] = feed.due()
    assert (event.passage_id, event.plate, event.formatted, event.country) == (
        reads[0].passage_id,
        "1ABC234",
        "1-ABC-234",
        "BE",
    )
    assert list(event.read_ids) == [reads[0].meta.event_id, reads[1].meta.event_id]
    assert (event.direction, event.zone) == (common_pb2.DIRECTION_OUT, "zone-1")
    assert event.meta.event_id == derived_event_id(reads[0].meta.event_id, "passage")
    assert event.first_seen.ToDatetime(tzinfo=UTC) == START
    assert feed.due() == []
    assert feed.close_all() == []


def test_a_consensus_no_read_had_is_formatted_by_the_grammar() -> None:
    feed = PassageFeed(window_s=2.0, zone_id="zone-1", clock=lambda: 0.0)
    # Each reading one look-alike swap from the one before, each wrong somewhere (1/I, B/8, 2/Z):
    # per position the right character has the most confidence, though no reading has them all.
    readings = [("IABC234", 0.9), ("IA8C234", 0.3), ("1A8C234", 0.9), ("1A8CZ34", 0.3), ("1ABCZ34", 0.9)]
    feed.join([plate_read(text, "", n / 10, confidence) for n, (text, confidence) in enumerate(readings)])
    [event] = feed.close_all()
    assert len(event.read_ids) == 5
    assert event.plate == "1ABC234"
    assert (event.formatted, event.country) == ("1-ABC-234", "BE")
