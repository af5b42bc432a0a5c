"""The Belgian legal tiers for consulting ANPR data: 30 days for everyone, 12 months judicial only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_access.domain.legal import LegalPolicy, LegalTier, OutOfReach, Purpose, SearchRefused

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
POLICY = LegalPolicy()
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("age", "tier"),
    [
        (timedelta(0), LegalTier.RECENT),
        (timedelta(days=29, hours=23), LegalTier.RECENT),
        (timedelta(days=30), LegalTier.RECENT),
        (timedelta(days=30, seconds=1), LegalTier.JUDICIAL_ONLY),
        (timedelta(days=200), LegalTier.JUDICIAL_ONLY),
        (timedelta(days=365), LegalTier.JUDICIAL_ONLY),
        (timedelta(days=365, seconds=1), LegalTier.EXPIRED),
    ],
)
def test_tier_boundaries(age: timedelta, tier: LegalTier) -> None:
    assert POLICY.tier_of(NOW - age, NOW) is tier


def search(
    start_age: timedelta,
    purpose: Purpose = Purpose.ADMINISTRATIVE,
    case_reference: str = "PV/2026/123",
    legal_basis: str = "art. 44/5 WPA",
    prosecutor_decision: str = "",
    end_age: timedelta = timedelta(0),
    policy: LegalPolicy = POLICY,
) -> LegalTier:
    return policy.check_search(
        purpose=purpose,
        case_reference=case_reference,
        legal_basis=legal_basis,
        prosecutor_decision=prosecutor_decision,
        window_start=NOW - start_age,
        window_end=NOW - end_age,
        now=NOW,
    )


def refused(**kwargs: object) -> str:
    with pytest.raises(SearchRefused) as caught:
        search(**kwargs)  # type: ignore[arg-type]
    return str(caught.value)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_recent_search_is_allowed_for_both_purposes(purpose: Purpose) -> None:
    assert search(timedelta(days=30), purpose=purpose) is LegalTier.RECENT


def test_administrative_search_older_than_30_days_is_refused() -> None:
    message = refused(start_age=timedelta(days=30, seconds=1))
    assert "older than 30 days" in message
    assert "judicial" in message
    # Even with a prosecutor's decision: administrative police may not look back that far.
    assert "older than 30 days" in refused(start_age=timedelta(days=90), prosecutor_decision="PR/2026/7")


def test_judicial_search_into_older_data_needs_the_prosecutor_decision() -> None:
    message = refused(start_age=timedelta(days=90), purpose=Purpose.JUDICIAL)
    assert "prosecutor_decision" in message
    assert "prosecutor_decision" in refused(
        start_age=timedelta(days=90), purpose=Purpose.JUDICIAL, prosecutor_decision="   "
    )
    tier = search(timedelta(days=90), purpose=Purpose.JUDICIAL, prosecutor_decision="PR/2026/7")
    assert tier is LegalTier.JUDICIAL_ONLY


def test_judicial_search_of_recent_data_needs_no_prosecutor_decision() -> None:
    assert search(timedelta(days=29, hours=23), purpose=Purpose.JUDICIAL) is LegalTier.RECENT


@pytest.mark.parametrize("case_reference", ["", "   "])
def test_search_without_case_reference_is_refused(case_reference: str) -> None:
    assert "case_reference" in refused(start_age=DAY, case_reference=case_reference)


@pytest.mark.parametrize("legal_basis", ["", "\t"])
def test_search_without_legal_basis_is_refused(legal_basis: str) -> None:
    assert "legal_basis" in refused(start_age=DAY, legal_basis=legal_basis)


def test_justification_is_needed_for_judicial_searches_too() -> None:
    assert "case_reference" in refused(
        start_age=timedelta(days=90), purpose=Purpose.JUDICIAL, prosecutor_decision="PR/1", case_reference=""
    )


@pytest.mark.parametrize("end_age", [DAY, 2 * DAY])
def test_empty_or_inverted_window_is_refused(end_age: timedelta) -> None:
    assert "empty" in refused(start_age=DAY, end_age=end_age)


def test_legal_periods_are_configurable() -> None:
    week = LegalPolicy(first_tier=timedelta(days=7), retention=timedelta(days=90))
    assert week.tier_of(NOW - timedelta(days=8), NOW) is LegalTier.JUDICIAL_ONLY
    assert week.tier_of(NOW - timedelta(days=91), NOW) is LegalTier.EXPIRED
    assert "older than 7 days" in refused(start_age=timedelta(days=8), policy=week)


@given(st.integers(min_value=1, max_value=400 * 24 * 3600))
def test_administrative_purpose_reaches_exactly_the_first_tier(age_s: int) -> None:
    age = timedelta(seconds=age_s)
    if age <= POLICY.first_tier:
        assert search(age) is LegalTier.RECENT
    else:
        with pytest.raises(SearchRefused):
            search(age)
        assert search(age, purpose=Purpose.JUDICIAL, prosecutor_decision="PR/1") is POLICY.tier_of(
            NOW - age, NOW
        )


def test_out_of_reach_is_its_own_kind_of_refusal_and_incompleteness_is_not() -> None:
    # The entrypoint answers 403 for OutOfReach and 422 for the rest, by type, not by the message.
    with pytest.raises(OutOfReach):
        search(timedelta(days=31))
    with pytest.raises(OutOfReach):
        search(timedelta(days=90), purpose=Purpose.JUDICIAL)
    incomplete: list[Callable[[], LegalTier]] = [
        lambda: search(DAY, case_reference=""),
        lambda: search(DAY, legal_basis=""),
        lambda: search(DAY, end_age=2 * DAY),
    ]
    for attempt in incomplete:
        with pytest.raises(SearchRefused) as caught:
            attempt()
        assert not isinstance(caught.value, OutOfReach)
