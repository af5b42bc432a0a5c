"""The event ids of what cameras send: a resend is the same event, anything else another."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from anpr_ingest.domain.event_ids import intake_event_id


def test_an_intake_event_id_is_the_same_for_the_same_content_and_differs_otherwise() -> None:
    at = datetime.now(UTC).replace(microsecond=123456)
    first = intake_event_id("5344", "cam-1", at, "a" * 64)
    assert intake_event_id("5344", "cam-1", at.astimezone(timezone(timedelta(hours=2))), "a" * 64) == first
    others = {
        intake_event_id("5345", "cam-1", at, "a" * 64),
        intake_event_id("5344", "cam-2", at, "a" * 64),
        intake_event_id("5344", "cam-1", at + timedelta(microseconds=1), "a" * 64),
        intake_event_id("5344", "cam-1", at, "b" * 64),
    }
    assert first not in others and len(others) == 4
    parsed = uuid.UUID(first)
    assert parsed.version == 7
    assert parsed.int >> 80 == int(at.timestamp() * 1000)  # time-ordered by capture time


@settings(max_examples=200, deadline=None)
@given(
    camera=st.text(min_size=1, max_size=64),
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    digest=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_intake_event_ids_are_uuid7_strings(camera: str, at: datetime, digest: str) -> None:
    event_id = intake_event_id("5344", camera, at, digest)
    assert len(event_id) == 36
    assert uuid.UUID(event_id).version == 7
    assert str(uuid.UUID(event_id)) == event_id
