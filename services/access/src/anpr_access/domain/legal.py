"""The Belgian legal time tiers for consulting ANPR data (Wet op het Politieambt; GwH 27/2020). No I/O.

- up to `first_tier` (1 month): administrative and judicial purposes;
- from then up to `retention` (12 months): judicial only, with the prosecutor's written decision;
- past `retention`: the data no longer exists.
The periods are settings because the law changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from anpr_access.domain.errors import Invalid


class Purpose(StrEnum):
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"


class LegalTier(StrEnum):
    RECENT = "recent"
    JUDICIAL_ONLY = "judicial_only"
    EXPIRED = "expired"


class SearchRefused(Invalid):
    """A search (or image view) the law does not allow as asked; the detail says what is missing."""

    title = "Search refused"


class OutOfReach(SearchRefused):
    """The data asked for is older than the purpose, or the decision given, allows: forbidden, not
    incomplete."""


@dataclass(frozen=True)
class Justification:
    """Why a person consults the data: asked of every search and every image view."""

    purpose: Purpose | None
    case_reference: str
    legal_basis: str
    prosecutor_decision: str

    def audit_fields(self) -> dict[str, str]:
        return {
            "purpose": self.purpose.value if self.purpose else "",
            "case_reference": self.case_reference,
            "legal_basis": self.legal_basis,
            "prosecutor_decision": self.prosecutor_decision,
        }


@dataclass(frozen=True)
class LegalPolicy:
    first_tier: timedelta = timedelta(days=30)
    retention: timedelta = timedelta(days=365)

    def tier_of(self, moment: datetime, now: datetime) -> LegalTier:
        age = now - moment
        if age > self.retention:
            return LegalTier.EXPIRED
        if age > self.first_tier:
            return LegalTier.JUDICIAL_ONLY
        return LegalTier.RECENT

    def check_search(
        self,
        *,
        purpose: Purpose,
        case_reference: str,
        legal_basis: str,
        prosecutor_decision: str,
        window_start: datetime,
        window_end: datetime,
        now: datetime,
    ) -> LegalTier:
        """Returns the oldest tier the search reaches into, or raises SearchRefused saying why
        (OutOfReach where the window reaches data the purpose or the missing decision keeps out of reach)."""
        if not case_reference.strip():
            raise SearchRefused("every search needs a case or PV number (case_reference)")
        if not legal_basis.strip():
            raise SearchRefused("every search needs its legal basis (legal_basis)")
        if window_end <= window_start:
            raise SearchRefused("the time window is empty: `until` must be after `since`")
        tier = self.tier_of(window_start, now)
        if tier is LegalTier.RECENT:
            return tier
        if purpose is not Purpose.JUDICIAL:
            raise OutOfReach(
                f"data older than {self.first_tier.days} days may only be consulted for judicial purposes"
            )
        if not prosecutor_decision.strip():
            raise OutOfReach(
                f"data older than {self.first_tier.days} days needs the reference of the prosecutor's "
                "written decision (prosecutor_decision)"
            )
        return tier
