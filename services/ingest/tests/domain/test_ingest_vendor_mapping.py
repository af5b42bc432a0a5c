"""A vendor's read in the platform's terms: normalised plate, 0..1 confidence, the zone's direction
through the register's, a local time placed in the camera's zone, and which reads of an Axis vehicle
are published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_ingest.domain.cameras import Direction
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.vendors import TrackState, Travel, Vendor, VendorRead
from anpr_ingest.domain.vendors.mapping import (
    UNSTATED_CONFIDENCE,
    box_within,
    camera_read,
    vendor_read_digest,
    worth_publishing,
    zone_direction,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
SKEW = timedelta(minutes=5)


def read(**fields: object) -> VendorRead:
    base: dict[str, object] = {"text": "1-abc-234", "confidence": 0.9, "captured_at": NOW}
    base.update(fields)
    return VendorRead(**base)  # type: ignore[arg-type]


NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("registered", "travel", "expected"),
    [
        (Direction.IN, Travel.TOWARDS, Direction.IN),
        (Direction.IN, Travel.UNKNOWN, Direction.IN),
        (Direction.IN, Travel.AWAY, Direction.OUT),
        (Direction.OUT, Travel.TOWARDS, Direction.OUT),
        (Direction.OUT, Travel.AWAY, Direction.IN),
        (Direction.BOTH, Travel.TOWARDS, Direction.IN),
        (Direction.BOTH, Travel.AWAY, Direction.OUT),
        (Direction.BOTH, Travel.UNKNOWN, Direction.BOTH),
    ],
)
def test_the_vendors_direction_of_travel_becomes_the_zones_through_the_register(
    registered: Direction, travel: Travel, expected: Direction
) -> None:
    assert zone_direction(registered, travel) is expected


def test_plate_is_normalised_and_a_local_time_is_placed_in_the_cameras_zone() -> None:
    # 14:00 in Brussels in July is 12:00 UTC (summer time, +02:00).
    mapped = camera_read(
        Vendor.DAHUA, read(captured_at=datetime(2026, 7, 1, 14, 0)), Direction.IN, BRUSSELS, NOW, SKEW
    )
    assert mapped.plate == "1ABC234"
    assert mapped.captured_at == NOW
    assert mapped.captured_at.utcoffset() == timedelta(hours=2)


def test_a_time_with_its_offset_keeps_it_whatever_the_cameras_zone() -> None:
    sent = datetime(2026, 7, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))  # 12:00 UTC
    assert (
        camera_read(Vendor.AXIS, read(captured_at=sent), Direction.IN, BRUSSELS, NOW, SKEW).captured_at
        == sent
    )


def test_clock_skew_and_bad_plates_are_refused_as_for_the_platforms_own_reads() -> None:
    with pytest.raises(RejectedFrame) as skewed:
        camera_read(
            Vendor.AXIS, read(captured_at=NOW - timedelta(hours=1)), Direction.IN, BRUSSELS, NOW, SKEW
        )
    assert skewed.value.reason == "clock_skew"
    with pytest.raises(RejectedFrame) as unreadable:
        camera_read(Vendor.AXIS, read(text="--- ***"), Direction.IN, BRUSSELS, NOW, SKEW)
    assert unreadable.value.reason == "bad_plate"


def test_confidence_is_kept_and_an_unstated_one_counts_as_certain() -> None:
    assert camera_read(Vendor.VAXTOR, read(), Direction.IN, BRUSSELS, NOW, SKEW).confidence == 0.9
    unstated = camera_read(Vendor.GENETEC, read(confidence=None), Direction.IN, BRUSSELS, NOW, SKEW)
    assert unstated.confidence == UNSTATED_CONFIDENCE == 1.0


def test_per_character_confidences_are_kept_only_where_they_line_up_with_the_plate() -> None:
    seven = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
    kept = camera_read(Vendor.HIKVISION, read(char_confidences=seven), Direction.IN, BRUSSELS, NOW, SKEW)
    assert kept.char_confidences == seven
    # "1-abc-234" printed with its dashes: 9 values for 7 characters cannot be placed.
    dropped = camera_read(
        Vendor.HIKVISION, read(char_confidences=seven + (1.0, 1.0)), Direction.IN, BRUSSELS, NOW, SKEW
    )
    assert dropped.char_confidences == ()


def test_an_ambiguous_local_time_at_the_autumn_change_is_the_earlier_one() -> None:
    # 02:30 on 25 October 2026 happens twice in Brussels; the first is 00:30 UTC.
    mapped = camera_read(
        Vendor.TATTILE,
        read(captured_at=datetime(2026, 10, 25, 2, 30)),
        Direction.IN,
        BRUSSELS,
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        SKEW,
    )
    assert mapped.captured_at.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_the_same_push_gives_the_same_digest_and_another_reading_another() -> None:
    first = camera_read(Vendor.AXIS, read(crop=b"crop"), Direction.IN, BRUSSELS, NOW, SKEW)
    again = camera_read(Vendor.AXIS, read(crop=b"crop"), Direction.IN, BRUSSELS, NOW, SKEW)
    other = camera_read(Vendor.AXIS, read(text="1ABC284", crop=b"crop"), Direction.IN, BRUSSELS, NOW, SKEW)
    assert vendor_read_digest(first) == vendor_read_digest(again) != vendor_read_digest(other)


@given(st.sampled_from([None, *TrackState]), st.booleans())
def test_only_a_lost_vehicle_already_reported_is_left_unpublished(
    state: TrackState | None, reported: bool
) -> None:
    assert worth_publishing(state, reported) is not (state is TrackState.LOST and reported)


def test_a_box_outside_the_overview_is_dropped() -> None:
    assert box_within((338, 300, 455, 344), 640, 360) == (338, 300, 455, 344)
    assert box_within((5000, 3000, 5100, 3050), 640, 360) is None  # Dahua's 8192 grid
    assert box_within(None, 640, 360) is None
