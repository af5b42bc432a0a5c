"""The period a look at the log asks for: each end with a time zone, the start before the end; the
error names the parameter as the caller calls it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from anpr_audit.domain.period import InvalidPeriod, check_period

NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("since", "until"), [(None, None), (NOW, None), (None, NOW), (NOW, NOW + timedelta(microseconds=1))]
)
def test_a_period_with_time_zones_in_order_holds(since: datetime | None, until: datetime | None) -> None:
    check_period(since, until)


def test_a_time_without_a_time_zone_is_named() -> None:
    naive = NOW.replace(tzinfo=None)
    with pytest.raises(InvalidPeriod, match="`from` needs a time zone"):
        check_period(naive, NOW)
    with pytest.raises(InvalidPeriod, match="`until` needs a time zone"):
        check_period(NOW, naive, ("since", "until"))


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(hours=1)])
def test_a_start_at_or_after_the_end_is_refused(gap: timedelta) -> None:
    with pytest.raises(InvalidPeriod, match="`from` must be before `to`"):
        check_period(NOW + gap, NOW)
