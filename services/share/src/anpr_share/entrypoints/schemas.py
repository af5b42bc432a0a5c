"""The bodies share's REST surface takes and gives (its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from anpr_share.domain.agreements import (
    DEFAULT_FIELDS,
    Agreement,
    AgreementStatus,
    HotlistScope,
    InboundScope,
    ReadField,
    ReadScope,
    Terms,
)
from anpr_share.domain.zone_topics import ZoneTopics

_ZONE = r"^[A-Za-z0-9_-]{1,32}$"


class ReadsOut(BaseModel):
    """The reads shared out, minimised to `fields`."""

    camera_ids: list[str] = Field(default=[], max_length=1000, description="cameras whose reads are shared")
    border_cameras: bool = Field(
        default=False, description="also every border camera the register shares with this neighbour"
    )
    fields: list[ReadField] = Field(
        default=sorted(DEFAULT_FIELDS),
        description="what of each read is shared (plate, time and camera always; crop and overview only "
        "where named)",
    )

    def scope(self) -> ReadScope:
        return ReadScope(frozenset(self.camera_ids), self.border_cameras, frozenset(self.fields))

    @classmethod
    def of(cls, scope: ReadScope) -> ReadsOut:
        return cls(
            camera_ids=sorted(scope.camera_ids),
            border_cameras=scope.border_cameras,
            fields=sorted(scope.fields),
        )


class HotlistsOut(BaseModel):
    """The hotlist entries shared out: of these lists, and of these categories."""

    list_names: list[str] = Field(default=[], max_length=1000)
    categories: list[str] = Field(default=[], max_length=100)

    def scope(self) -> HotlistScope:
        return HotlistScope(frozenset(self.list_names), frozenset(self.categories))

    @classmethod
    def of(cls, scope: HotlistScope) -> HotlistsOut:
        return cls(list_names=sorted(scope.list_names), categories=sorted(scope.categories))


class Inbound(BaseModel):
    """What this zone takes from the neighbour."""

    reads: bool = False
    hotlists: bool = False

    def scope(self) -> InboundScope:
        return InboundScope(self.reads, self.hotlists)


class AgreementIn(BaseModel):
    partner_zone_id: str = Field(pattern=_ZONE, description="the neighbour zone")
    reference: str = Field(min_length=1, max_length=200, description="reference of the signed agreement")
    legal_basis: str = Field(min_length=1, max_length=2000)
    valid_from: datetime | None = Field(default=None, description="with an offset; default: now")
    valid_until: datetime | None = Field(default=None, description="with an offset; none: until revoked")
    reads: ReadsOut = ReadsOut()
    hotlists: HotlistsOut = HotlistsOut()
    inbound: Inbound = Inbound()

    def terms(self, now: datetime) -> Terms:
        return Terms(
            reference=self.reference,
            legal_basis=self.legal_basis,
            valid_from=self.valid_from or now,
            valid_until=self.valid_until,
            reads_out=self.reads.scope(),
            hotlists_out=self.hotlists.scope(),
            inbound=self.inbound.scope(),
        )


class AgreementPatch(BaseModel):
    """Only the fields sent change; the partner zone never does (make a new agreement)."""

    reference: str | None = Field(default=None, min_length=1, max_length=200)
    legal_basis: str | None = Field(default=None, min_length=1, max_length=2000)
    valid_from: datetime | None = None
    valid_until: datetime | None = Field(default=None, description="null: until revoked")
    reads: ReadsOut | None = None
    hotlists: HotlistsOut | None = None
    inbound: Inbound | None = None

    def changes(self) -> dict[str, Any]:
        """The changes as Terms' fields; a null for anything but valid_until is refused."""
        sent = self.model_fields_set
        changes: dict[str, Any] = {}
        for name, field in (("reads", "reads_out"), ("hotlists", "hotlists_out"), ("inbound", "inbound")):
            if name in sent:
                value = getattr(self, name)
                if value is None:
                    raise ValueError(f"{name} cannot be null")
                changes[field] = value.scope()
        for name in ("reference", "legal_basis", "valid_from", "valid_until"):
            if name in sent:
                if getattr(self, name) is None and name != "valid_until":
                    raise ValueError(f"{name} cannot be null")
                changes[name] = getattr(self, name)
        return changes


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why sharing stops")


class ExchangeTopicsOut(BaseModel):
    """Where the records go and come from on the exchange."""

    shared_reads: str
    shared_hotlist: str
    received_reads: str
    received_hotlist: str


class AgreementOut(BaseModel):
    agreement_id: str
    partner_zone_id: str
    status: AgreementStatus
    reference: str
    legal_basis: str
    valid_from: datetime
    valid_until: datetime | None
    reads: ReadsOut
    hotlists: HotlistsOut
    inbound: Inbound
    topics: ExchangeTopicsOut
    created_by: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None
    revoked_by: str
    revocation_reason: str

    @classmethod
    def of(cls, agreement: Agreement, zone_id: str, zone_topics: ZoneTopics, now: datetime) -> AgreementOut:
        terms, partner = agreement.terms, agreement.partner_zone
        return cls(
            agreement_id=agreement.agreement_id,
            partner_zone_id=partner,
            status=agreement.status(now),
            reference=terms.reference,
            legal_basis=terms.legal_basis,
            valid_from=terms.valid_from,
            valid_until=terms.valid_until,
            reads=ReadsOut.of(terms.reads_out),
            hotlists=HotlistsOut.of(terms.hotlists_out),
            inbound=Inbound(reads=terms.inbound.reads, hotlists=terms.inbound.hotlists),
            topics=ExchangeTopicsOut(
                shared_reads=zone_topics.reads(zone_id, partner),
                shared_hotlist=zone_topics.hotlist(zone_id, partner),
                received_reads=zone_topics.reads(partner, zone_id),
                received_hotlist=zone_topics.hotlist(partner, zone_id),
            ),
            created_by=agreement.created_by,
            created_at=agreement.created_at,
            updated_at=agreement.updated_at,
            revoked_at=agreement.revoked_at,
            revoked_by=agreement.revoked_by,
            revocation_reason=agreement.revocation_reason,
        )
