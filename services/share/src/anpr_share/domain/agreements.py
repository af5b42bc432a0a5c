"""A sharing agreement with a neighbour zone: what this zone shares out (reads of which cameras,
minimised to which fields; which hotlists), what it takes in, for how long, on which legal basis and
under which signed agreement. No I/O.

One agreement per neighbour at a time: two that overlap in time would each name the same records,
and a disclosure must name the one agreement it was made under.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from anpr_share.domain.errors import Conflict, Invalid

# A zone id names topics (zone.<sender>.<recipient>.*): no dots, so one zone's prefix is never another's.
ZONE_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# List names as match's (a lower-case name of 1 to 64 characters).
LIST_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ReadField(StrEnum):
    """What of a read an agreement may share. A read always carries its event id, its zone and when
    it was published; everything else goes only where the agreement names it."""

    PLATE = "plate"  # the plate as read, and its national display form
    COUNTRY = "country"  # the country of the plate's format
    TIME = "time"  # when it was captured
    CAMERA = "camera"  # which camera read it
    DIRECTION = "direction"  # into or out of the zone
    CONFIDENCE = "confidence"  # the reader's confidence
    CANDIDATES = "candidates"  # the other readings (a neighbour's fuzzy matching uses them)
    VEHICLE = "vehicle"  # what a smart camera says of the vehicle (type, colour, make)
    CROP = "crop"  # the plate's image
    OVERVIEW = "overview"  # the whole scene (other vehicles, people), and the plate's box in it


# Without these a read is of no use to a neighbour: which plate, when, where.
REQUIRED_FIELDS = frozenset({ReadField.PLATE, ReadField.TIME, ReadField.CAMERA})
DEFAULT_FIELDS = REQUIRED_FIELDS | {ReadField.DIRECTION, ReadField.CONFIDENCE}


class AgreementStatus(StrEnum):
    SCHEDULED = "scheduled"  # valid_from is still to come
    ACTIVE = "active"
    ENDED = "ended"  # past valid_until
    REVOKED = "revoked"


@dataclass(frozen=True)
class ReadScope:
    """The reads shared out: those of the cameras named, and of every border camera the register
    says is shared with this neighbour when `border_cameras`; each minimised to `fields`."""

    camera_ids: frozenset[str] = frozenset()
    border_cameras: bool = False
    fields: frozenset[ReadField] = DEFAULT_FIELDS

    @property
    def shares(self) -> bool:
        return self.border_cameras or bool(self.camera_ids)


@dataclass(frozen=True)
class HotlistScope:
    """The hotlist entries shared out: those of the lists named and of the categories named."""

    list_names: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    @property
    def shares(self) -> bool:
        return bool(self.list_names or self.categories)

    def covers(self, list_name: str, category: str) -> bool:
        return list_name in self.list_names or category in self.categories


@dataclass(frozen=True)
class InboundScope:
    """What this zone takes from the neighbour: its shared reads, its shared hotlists."""

    reads: bool = False
    hotlists: bool = False


@dataclass(frozen=True)
class Terms:
    """What an admin gives when making or changing an agreement."""

    reference: str  # the signed agreement's reference
    legal_basis: str
    valid_from: datetime
    valid_until: datetime | None
    reads_out: ReadScope = field(default_factory=ReadScope)
    hotlists_out: HotlistScope = field(default_factory=HotlistScope)
    inbound: InboundScope = field(default_factory=InboundScope)


@dataclass(frozen=True)
class Agreement:
    agreement_id: str
    partner_zone: str
    terms: Terms
    created_by: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str = ""
    revocation_reason: str = ""

    def status(self, now: datetime) -> AgreementStatus:
        if self.revoked_at is not None and self.revoked_at <= now:
            return AgreementStatus.REVOKED
        if now < self.terms.valid_from:
            return AgreementStatus.SCHEDULED
        if self.terms.valid_until is not None and now >= self.terms.valid_until:
            return AgreementStatus.ENDED
        return AgreementStatus.ACTIVE

    def in_force(self, now: datetime) -> bool:
        return self.status(now) is AgreementStatus.ACTIVE

    @property
    def ends_at(self) -> datetime | None:
        """When sharing under it stops: its revocation, else its end (None: open-ended)."""
        return self.revoked_at or self.terms.valid_until

    def overlaps(self, other: Agreement) -> bool:
        """Whether the two could be in force at one moment (a revoked one no longer can)."""
        if self.revoked_at is not None or other.revoked_at is not None:
            return False
        mine, theirs = self.terms, other.terms
        return (theirs.valid_until is None or mine.valid_from < theirs.valid_until) and (
            mine.valid_until is None or theirs.valid_from < mine.valid_until
        )


def check_terms(terms: Terms) -> Terms:
    """Refuses terms an agreement cannot have (Invalid, saying what to change)."""
    if not terms.reference.strip():
        raise Invalid("reference: name the signed agreement (its reference)")
    if not terms.legal_basis.strip():
        raise Invalid("legal_basis: say on which legal basis the data is shared")
    if terms.valid_from.tzinfo is None or (terms.valid_until and terms.valid_until.tzinfo is None):
        raise Invalid("valid_from and valid_until need a time zone offset")
    if terms.valid_until is not None and terms.valid_until <= terms.valid_from:
        raise Invalid("valid_until must be after valid_from")
    missing = REQUIRED_FIELDS - terms.reads_out.fields
    if terms.reads_out.shares and missing:
        raise Invalid(
            f"reads.fields must include {', '.join(sorted(missing))}: a read without its plate, its "
            "time and its camera is of no use to a neighbour"
        )
    bad_lists = sorted(name for name in terms.hotlists_out.list_names if not LIST_NAME.match(name))
    if bad_lists:
        raise Invalid(f"hotlists.list_names: not a list name: {', '.join(bad_lists)}")
    return terms


def new_agreement(
    agreement_id: str,
    zone_id: str,
    partner_zone: str,
    terms: Terms,
    existing: list[Agreement],
    *,
    by: str,
    now: datetime,
) -> Agreement:
    if not ZONE_ID.match(partner_zone):
        raise Invalid("partner_zone_id: 1 to 32 letters, digits, '_' or '-'")
    if partner_zone == zone_id:
        raise Invalid(f"partner_zone_id: {zone_id} is this zone; an agreement is with a neighbour")
    agreement = Agreement(agreement_id, partner_zone, check_terms(terms), by, now, now)
    _refuse_overlap(agreement, existing)
    return agreement


def changed_agreement(
    agreement: Agreement, changes: dict[str, Any], existing: list[Agreement], *, now: datetime
) -> Agreement:
    """The agreement with the terms in `changes` replaced (names of Terms' fields)."""
    if agreement.revoked_at is not None:
        raise Conflict(f"agreement {agreement.agreement_id} is revoked; make a new one")
    unknown = set(changes) - set(Terms.__dataclass_fields__)
    if unknown:
        raise Invalid(f"cannot change {', '.join(sorted(unknown))}")
    updated = replace(agreement, terms=check_terms(replace(agreement.terms, **changes)), updated_at=now)
    _refuse_overlap(updated, [a for a in existing if a.agreement_id != agreement.agreement_id])
    return updated


def revoked_agreement(agreement: Agreement, reason: str, *, by: str, now: datetime) -> Agreement:
    if agreement.revoked_at is not None:
        revoked = agreement.revoked_at.isoformat()
        raise Conflict(f"agreement {agreement.agreement_id} was revoked at {revoked}")
    if not reason.strip():
        raise Invalid("reason: say why the agreement is revoked")
    return replace(agreement, revoked_at=now, revoked_by=by, revocation_reason=reason, updated_at=now)


def _refuse_overlap(agreement: Agreement, existing: list[Agreement]) -> None:
    for other in existing:
        if other.partner_zone == agreement.partner_zone and agreement.overlaps(other):
            raise Conflict(
                f"agreement {other.agreement_id} with zone {other.partner_zone} overlaps it in time: one "
                "agreement per neighbour at a time (change that one, or revoke it first)"
            )


def terms_fields(terms: Terms) -> dict[str, Any]:
    """The terms as plain values: how they are stored, and audited with each change."""
    return {
        "reference": terms.reference,
        "legal_basis": terms.legal_basis,
        "valid_from": terms.valid_from.isoformat(),
        "valid_until": terms.valid_until.isoformat() if terms.valid_until else None,
        "reads_out": {
            "camera_ids": sorted(terms.reads_out.camera_ids),
            "border_cameras": terms.reads_out.border_cameras,
            "fields": sorted(f.value for f in terms.reads_out.fields),
        },
        "hotlists_out": {
            "list_names": sorted(terms.hotlists_out.list_names),
            "categories": sorted(terms.hotlists_out.categories),
        },
        "inbound": {"reads": terms.inbound.reads, "hotlists": terms.inbound.hotlists},
    }


def terms_changes(before: Terms, after: Terms) -> dict[str, list[Any]]:
    """What a change changed, {field: [before, after]}, for the audit."""
    old, new = terms_fields(before), terms_fields(after)
    return {name: [old[name], new[name]] for name in old if old[name] != new[name]}


@dataclass(frozen=True)
class ListsEnd:
    """Hotlists shared under an agreement end at `at`: this zone's at the neighbour (`ours`), or
    the neighbour's here."""

    ours: bool
    at: datetime


def lists_ending(before: Agreement, after: Agreement, now: datetime) -> list[ListsEnd]:
    """Which shared lists a change or revocation ends, and when: all of a side's lists when its
    sharing stops (now), or when the agreement is made to end earlier (at the new end). Narrowing
    which lists are shared ends none: their entries end as their own validity says."""
    ends = []
    for ours, shared_before, shared_after in (
        (True, before.terms.hotlists_out.shares, after.terms.hotlists_out.shares),
        (False, before.terms.inbound.hotlists, after.terms.inbound.hotlists),
    ):
        if not shared_before:
            continue
        if after.revoked_at is not None or not shared_after:
            ends.append(ListsEnd(ours, now))
        elif _earlier(after.ends_at, before.ends_at):
            assert after.ends_at is not None  # noqa: S101 - _earlier says so
            ends.append(ListsEnd(ours, max(after.ends_at, now)))
    return ends


def _earlier(end: datetime | None, than: datetime | None) -> bool:
    return end is not None and (than is None or end < than)
