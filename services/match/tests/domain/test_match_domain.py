"""Match's domain: the hotlist index, validity windows, and deterministic hit ids."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_core.plates import normalise_plate
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.domain.entries import Category, HotlistEntry, MatchKind
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


def test_normalise_plate_keeps_ascii_letters_and_digits_upper_case() -> None:
    assert normalise_plate("1-abc-234") == "1ABC234"
    assert normalise_plate(" ab 12 cd ") == "AB12CD"
    assert normalise_plate("1·ÄBC·234") == "1BC234"


def test_exact_match_on_the_best_reading() -> None:
    index = HotlistIndex()
    index.put(entry())
    matches = index.match([("1ABC234", 0.97)], NOW)
    assert len(matches) == 1
    assert matches[0].entry.entry_id == "e-1"
    assert matches[0].kind is MatchKind.EXACT
    assert matches[0].plate_read == "1ABC234"
    assert matches[0].score == pytest.approx(0.97)


def test_reading_with_separators_still_matches() -> None:
    index = HotlistIndex()
    index.put(entry())
    assert [m.entry.entry_id for m in index.match([("1-abc-234", 0.9)], NOW)] == ["e-1"]


def test_a_full_width_reading_matches_the_plate_it_spells() -> None:
    # The plate vocabulary of libs/core folds compatibility forms (NFKC), as an OCR model or a
    # keyboard may emit them: the same normaliser as access's search and ingest's intake.
    index = HotlistIndex()
    index.put(entry())
    assert [m.entry.plate for m in index.match([("１ＡＢＣ－２３４", 0.9)], NOW)] == ["1ABC234"]


def test_match_through_a_secondary_candidate() -> None:
    index = HotlistIndex()
    index.put(entry())
    matches = index.match([("1ABC284", 0.91), ("1ABC234", 0.62)], NOW)
    assert len(matches) == 1
    assert matches[0].plate_read == "1ABC234"
    assert matches[0].score == pytest.approx(0.62)


def test_one_match_per_entry_from_the_best_ranked_reading() -> None:
    index = HotlistIndex()
    index.put(entry())
    matches = index.match([("1ABC234", 0.8), ("1-ABC-234", 0.7)], NOW)
    assert len(matches) == 1
    assert matches[0].score == pytest.approx(0.8)


def test_no_match_for_other_plates() -> None:
    index = HotlistIndex()
    index.put(entry())
    assert index.match([("1ABC235", 0.99), ("2ABC234", 0.5)], NOW) == []
    assert HotlistIndex().match([("1ABC234", 0.99)], NOW) == []


def test_all_entries_on_a_plate_match_highest_priority_first() -> None:
    index = HotlistIndex()
    index.put(entry("low", priority=1))
    index.put(entry("high", priority=9))
    index.put(entry("other-plate", plate="XYZ987", priority=9))
    assert [m.entry.entry_id for m in index.match([("1ABC234", 0.9)], NOW)] == ["high", "low"]


def test_entry_not_yet_valid_does_not_match() -> None:
    index = HotlistIndex()
    index.put(entry(valid_from=NOW + timedelta(seconds=1)))
    assert index.match([("1ABC234", 0.9)], NOW) == []


def test_expired_entry_does_not_match() -> None:
    index = HotlistIndex()
    index.put(entry(valid_from=NOW - timedelta(days=10), valid_until=NOW - timedelta(seconds=1)))
    assert index.match([("1ABC234", 0.9)], NOW) == []


def test_validity_window_includes_its_start_and_excludes_its_end() -> None:
    listed = entry(valid_from=NOW, valid_until=NOW + timedelta(hours=1))
    assert listed.in_force(NOW)
    assert listed.in_force(NOW + timedelta(minutes=59, seconds=59))
    assert not listed.in_force(NOW + timedelta(hours=1))
    assert not listed.in_force(NOW - timedelta(microseconds=1))


def test_validity_is_judged_at_capture_time_not_processing_time() -> None:
    index = HotlistIndex()
    index.put(entry(valid_from=NOW - timedelta(days=2), valid_until=NOW - timedelta(days=1)))
    # A read captured while the entry was in force still matches when processed later.
    assert len(index.match([("1ABC234", 0.9)], NOW - timedelta(days=1, hours=12))) == 1


def test_put_replaces_and_remove_forgets() -> None:
    index = HotlistIndex()
    index.put(entry())
    index.put(replace(entry(), plate="XYZ987"))
    assert len(index) == 1
    assert "e-1" in index
    assert index.match([("1ABC234", 0.9)], NOW) == []
    assert len(index.match([("XYZ987", 0.9)], NOW)) == 1
    index.remove("e-1")
    index.remove("never-there")
    assert len(index) == 0
    assert "e-1" not in index
    assert index.match([("XYZ987", 0.9)], NOW) == []


def test_hit_event_id_is_deterministic_and_a_version_8_uuid() -> None:
    first = hit_event_id("read-1", "entry-1")
    assert first == hit_event_id("read-1", "entry-1")
    parsed = uuid.UUID(first)
    assert str(parsed) == first
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
    assert first != hit_event_id("read-1", "entry-2")
    assert first != hit_event_id("read-2", "entry-1")


@given(st.text(max_size=40), st.text(max_size=40))
def test_hit_event_id_is_always_a_valid_uuid(read_id: str, entry_id: str) -> None:
    parsed = uuid.UUID(hit_event_id(read_id, entry_id))
    assert parsed.version == 8
    assert parsed.variant == uuid.RFC_4122
