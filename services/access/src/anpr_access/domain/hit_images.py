"""The images of the read that raised a hit, as those who follow hits see them: bound to that hit,
never a way to browse reads, and within the legal time tiers of the read's age. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from anpr_access.domain.legal import LegalPolicy, LegalTier, OutOfReach, Purpose


class LookPurpose(StrEnum):
    """Why a person looks at a hit's images; recorded with every view."""

    # Following up hits as they come in, in the control room: what the live page is for.
    OPERATIONAL = "operational"
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"


@dataclass(frozen=True)
class HitLook:
    """Why a hit's images are viewed. Within the first tier the hit is reason enough; past it, only
    a judicial purpose with its case, legal basis and the prosecutor's decision reaches them."""

    purpose: LookPurpose = LookPurpose.OPERATIONAL
    case_reference: str = ""
    legal_basis: str = ""
    prosecutor_decision: str = ""

    def audit_fields(self) -> dict[str, str]:
        return {
            "purpose": self.purpose.value,
            "case_reference": self.case_reference,
            "legal_basis": self.legal_basis,
            "prosecutor_decision": self.prosecutor_decision,
        }


@dataclass(frozen=True)
class HitImages:
    """A stored hit and the images of its read; read_stored is False while (or once) access holds no
    read for it: not arrived yet, or past retention."""

    hit_id: str
    read_event_id: str
    captured_at: datetime
    read_stored: bool
    plate_crop: bytes | None
    overview: bytes | None


def check_hit_look(policy: LegalPolicy, look: HitLook, captured_at: datetime, now: datetime) -> LegalTier:
    """The tier of the read's age, or OutOfReach (SearchRefused where the judicial look is incomplete)."""
    tier = policy.tier_of(captured_at, now)
    if tier is LegalTier.RECENT:
        return tier
    if look.purpose is not LookPurpose.JUDICIAL:
        raise OutOfReach(
            f"the images of a hit older than {policy.first_tier.days} days may only be viewed for "
            "judicial purposes (purpose=judicial, with case_reference, legal_basis and "
            "prosecutor_decision)"
        )
    return policy.check_search(
        purpose=Purpose.JUDICIAL,
        case_reference=look.case_reference,
        legal_basis=look.legal_basis,
        prosecutor_decision=look.prosecutor_decision,
        window_start=captured_at,
        window_end=captured_at + timedelta(microseconds=1),
        now=now,
    )


JPEG, PNG, OCTET_STREAM = "image/jpeg", "image/png", "application/octet-stream"


def media_type(image: bytes) -> str:
    """What the stored bytes are, by their signature: cameras and the reader store JPEG or PNG."""
    if image.startswith(b"\xff\xd8"):
        return JPEG
    if image.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return OCTET_STREAM
