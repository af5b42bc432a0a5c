"""Times in Schild's APIs: an instant always with its offset, a local time of day without one."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from anpr_core.timestamps import Instant, LocalTimeOfDay, instant_text


class _Window(BaseModel):
    since: Instant
    until: Instant | None = None
    active_from: LocalTimeOfDay | None = None


def test_an_instant_without_an_offset_is_refused() -> None:
    with pytest.raises(ValidationError, match="needs its offset"):
        _Window.model_validate({"since": "2026-05-01T10:00:00"})


def test_an_instant_is_kept_as_utc_and_written_with_its_offset() -> None:
    window = _Window.model_validate({"since": "2026-05-01T12:00:00+02:00"})
    assert window.since == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert window.model_dump_json() == '{"since":"2026-05-01T10:00:00Z","until":null,"active_from":null}'


@given(st.datetimes(timezones=st.just(UTC) | st.none()))
def test_every_instant_written_carries_an_offset(moment: datetime) -> None:
    written = instant_text(moment)
    assert written.endswith("Z")
    assert datetime.fromisoformat(written).utcoffset() == timedelta(0)


def test_a_local_time_of_day_has_no_offset() -> None:
    now = datetime.now(UTC)
    assert _Window.model_validate({"since": now, "active_from": "22:00"}).active_from == time(22)
    with pytest.raises(ValidationError, match="no offset"):
        _Window(since=now, active_from=time(22, tzinfo=UTC))


def test_the_json_schema_says_what_is_written() -> None:
    properties = _Window.model_json_schema()["properties"]
    assert properties["since"]["format"] == "date-time"
    local = properties["active_from"]["anyOf"][0]
    assert "format" not in local, "JSON Schema's `time` format requires an offset"
    assert local["pattern"].startswith("^")
