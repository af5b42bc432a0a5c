"""The tiers of a hit's images, on plain data: within the first month any purpose reaches them; past
it a judicial one with its references only; and the stored bytes' media type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from anpr_access.domain.hit_images import HitLook, LookPurpose, check_hit_look, media_type
from anpr_access.domain.legal import LegalPolicy, LegalTier, OutOfReach, SearchRefused

NOW = datetime.now(UTC)
POLICY = LegalPolicy(first_tier=timedelta(days=30), retention=timedelta(days=365))
JUDICIAL = HitLook(LookPurpose.JUDICIAL, "PV/1", "art. 46/12 WPA", "PR/1")


@pytest.mark.parametrize("purpose", list(LookPurpose))
def test_within_the_first_month_the_hit_is_reason_enough(purpose: LookPurpose) -> None:
    assert check_hit_look(POLICY, HitLook(purpose), NOW - timedelta(days=29), NOW) is LegalTier.RECENT


@pytest.mark.parametrize("purpose", [LookPurpose.OPERATIONAL, LookPurpose.ADMINISTRATIVE])
def test_past_the_first_month_only_judicial_purposes_reach_it(purpose: LookPurpose) -> None:
    with pytest.raises(OutOfReach, match="judicial purposes"):
        check_hit_look(POLICY, HitLook(purpose, "PV/1", "basis", "PR/1"), NOW - timedelta(days=31), NOW)


def test_a_judicial_look_past_the_first_month_needs_its_references() -> None:
    old = NOW - timedelta(days=100)
    assert check_hit_look(POLICY, JUDICIAL, old, NOW) is LegalTier.JUDICIAL_ONLY
    with pytest.raises(OutOfReach, match="prosecutor"):
        check_hit_look(POLICY, HitLook(LookPurpose.JUDICIAL, "PV/1", "basis"), old, NOW)
    with pytest.raises(SearchRefused, match="case"):
        check_hit_look(POLICY, HitLook(LookPurpose.JUDICIAL, "", "basis", "PR/1"), old, NOW)


def test_the_audit_gets_the_purpose_operational_by_default() -> None:
    assert HitLook().audit_fields()["purpose"] == "operational"
    assert JUDICIAL.audit_fields() == {
        "purpose": "judicial",
        "case_reference": "PV/1",
        "legal_basis": "art. 46/12 WPA",
        "prosecutor_decision": "PR/1",
    }


def test_the_media_type_is_the_stored_bytes_own() -> None:
    assert media_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert media_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    assert media_type(b"GIF89a") == "application/octet-stream"
