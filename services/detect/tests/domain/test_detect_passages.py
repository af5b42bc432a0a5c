"""Passages: reads of one vehicle at one camera fused into one consensus reading, emitted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from anpr.v1 import common_pb2, read_pb2
from anpr_detect.adapters.wire import sightings_of
from anpr_detect.domain.passages import (
    PassageTracker,
    Sighting,
    consensus,
    passages_for,
    same_vehicle_text,
)

texts = st.text(alphabet="ABCDEFGHJKLMNPRSTXYZ0123456789", min_size=1, max_size=8)
confidences = st.floats(min_value=0.05, max_value=1.0)


def sighting(read_id: str, plate: str, at: float, camera: str = "cam-1", confidence: float = 0.9) -> Sighting:
    return Sighting(read_id, camera, plate, confidence, at)


def test_look_alike_swaps_are_the_same_vehicle_other_differences_are_not() -> None:
    assert same_vehicle_text("1ABC234", "1ABC234")
    assert same_vehicle_text("1ABC234", "1A8C234")  # B/8
    assert same_vehicle_text("1ABC234", "IABC234")  # 1/I
    assert not same_vehicle_text("1ABC234", "1AXC234")  # not look-alikes
    assert not same_vehicle_text("1ABC234", "1A8C23A")  # two differences
    assert not same_vehicle_text("1ABC234", "1ABC2345")


def test_consensus_votes_per_position_with_confidence() -> None:
    plate, confidence = consensus([("1ABC234", 0.9), ("1A8C234", 0.6), ("1ABC234", 0.8)])
    assert plate == "1ABC234"
    # Mean confidence (0.7667) times agreement (1 everywhere but position 2: 1.7 / 2.3).
    assert confidence == pytest.approx((2.3 / 3) * (6 + 1.7 / 2.3) / 7)
    # A confident reading outvotes two weak ones at the position they disagree on.
    assert consensus([("1A8C234", 0.95), ("1ABC234", 0.3), ("1ABC234", 0.3)])[0] == "1A8C234"
    # A reading that dropped a character does not vote.
    assert consensus([("ABC234", 0.99), ("1ABC234", 0.6), ("1ABC234", 0.6)])[0] == "1ABC234"
    with pytest.raises(ValueError, match="non-empty"):
        consensus([("", 0.9)])


@given(st.lists(st.tuples(texts, confidences), min_size=1, max_size=8), st.randoms())
def test_consensus_ignores_the_order_of_readings(readings: list[tuple[str, float]], random: object) -> None:
    shuffled = list(readings)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    plate, confidence = consensus(readings)
    again, confidence_again = consensus(shuffled)
    assert plate == again
    assert confidence == pytest.approx(confidence_again)
    assert 0.0 <= confidence <= 1.0
    assert len(plate) in {len(text) for text, _ in readings}


@given(texts, st.lists(confidences, min_size=1, max_size=6))
def test_unanimous_readings_give_the_text_and_the_mean_confidence(text: str, scores: list[float]) -> None:
    plate, confidence = consensus([(text, score) for score in scores])
    assert plate == text
    assert confidence == pytest.approx(sum(scores) / len(scores))


def test_one_car_over_consecutive_frames_is_one_passage_emitted_once() -> None:
    tracker = PassageTracker(window_s=3.0)
    ids = {
        tracker.add(sighting("r1", "1ABC234", 100.0)),
        tracker.add(sighting("r2", "1A8C234", 100.5, confidence=0.5)),
        tracker.add(sighting("r3", "1ABC234", 101.0)),
    }
    assert ids == {"cam-1:r1"}
    assert tracker.close_due(now=103.0) == []  # a read may still join
    [passage] = tracker.close_due(now=104.5)
    assert (passage.passage_id, passage.plate) == ("cam-1:r1", "1ABC234")
    assert passage.read_ids == ("r1", "r2", "r3")
    assert (passage.first_at, passage.last_at) == (100.0, 101.0)
    assert tracker.close_due(now=200.0) == []
    assert tracker.close_all() == []


def test_other_cameras_other_plates_and_later_returns_are_other_passages() -> None:
    passages = passages_for(
        [
            sighting("a", "1ABC234", 10.0),
            sighting("b", "1ABC234", 10.2, camera="cam-2"),
            sighting("c", "2XYZ789", 10.4),
            sighting("d", "1ABC234", 20.0),  # the same car, back later: a new passage
        ]
    )
    assert [(p.camera_id, p.plate, p.read_ids) for p in passages] == [
        ("cam-1", "1ABC234", ("a",)),
        ("cam-2", "1ABC234", ("b",)),
        ("cam-1", "2XYZ789", ("c",)),
        ("cam-1", "1ABC234", ("d",)),
    ]


def test_a_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PassageTracker(window_s=0)


@given(
    st.lists(
        st.tuples(st.sampled_from(["cam-1", "cam-2"]), texts, st.floats(0, 60), confidences),
        max_size=25,
    ),
    st.floats(0.5, 10),
)
def test_every_read_lands_in_exactly_one_passage_of_its_camera(
    reads: list[tuple[str, str, float, float]], window_s: float
) -> None:
    sightings = [
        Sighting(f"r{i}", camera, plate, confidence, at)
        for i, (camera, plate, at, confidence) in enumerate(reads)
    ]
    passages = passages_for(sightings, window_s)
    placed = [read_id for passage in passages for read_id in passage.read_ids]
    assert sorted(placed) == sorted(s.read_id for s in sightings)
    by_id = {s.read_id: s for s in sightings}
    for passage in passages:
        members = [by_id[read_id] for read_id in passage.read_ids]
        assert {s.camera_id for s in members} == {passage.camera_id}
        assert passage.first_at == min(s.at for s in members)
        assert passage.last_at == max(s.at for s in members)
        assert len({p.passage_id for p in passages}) == len(passages)
        # Consecutive members are never further apart than the window.
        times = sorted(s.at for s in members)
        assert all(b - a <= window_s for a, b in zip(times, times[1:], strict=False))


def test_reads_off_the_wire_fuse_into_passages() -> None:
    start = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)

    def read(event_id: str, plate: str, seconds: float, confidence: float) -> read_pb2.PlateRead:
        captured = Timestamp()
        captured.FromDatetime(start + timedelta(seconds=seconds))
        return read_pb2.PlateRead(
            meta=common_pb2.EventMeta(event_id=event_id),
            camera_id="cam-9",
            captured_at=captured,
            plate=plate,
            confidence=confidence,
        )

    reads = [read("e1", "1ABC234", 0.0, 0.9), read("e2", "IABC234", 0.4, 0.4), read("e3", "", 0.5, 0.1)]
    [passage] = passages_for(sightings_of(reads))
    assert (passage.passage_id, passage.plate, passage.read_ids) == ("cam-9:e1", "1ABC234", ("e1", "e2"))
    assert passage.first_at == start.timestamp()
    assert passage.last_at == pytest.approx(start.timestamp() + 0.4)
