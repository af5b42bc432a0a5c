"""The false-alarm rate of a list or a camera, on plain data: false alarms over acknowledged hits,
none while nothing is acknowledged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anpr_match.domain.false_alarms import VerdictCounts

counts = st.integers(min_value=0, max_value=10_000)


def test_no_verdict_means_no_rate_rather_than_zero() -> None:
    assert VerdictCounts("stolen", 4, 0, 0, 0).false_alarm_rate is None
    assert VerdictCounts("stolen", 4, 0, 0, 0).acknowledged == 0


def test_not_seen_counts_as_acknowledged_as_the_metric_has_it() -> None:
    verdicts = VerdictCounts("cam-1", 5, confirmed=1, false_alarms=1, not_seen=2)
    assert (verdicts.acknowledged, verdicts.false_alarm_rate) == (4, 0.25)


@given(counts, counts, counts)
def test_the_rate_is_a_share_of_the_acknowledged(confirmed: int, false_alarms: int, not_seen: int) -> None:
    verdicts = VerdictCounts("x", confirmed + false_alarms + not_seen, confirmed, false_alarms, not_seen)
    rate = verdicts.false_alarm_rate
    if verdicts.acknowledged == 0:
        assert rate is None
    else:
        assert rate is not None
        assert 0.0 <= rate <= 1.0
        assert abs(rate * verdicts.acknowledged - false_alarms) < 1e-6
