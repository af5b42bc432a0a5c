"""The bodies access's REST surface takes and gives (its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, BaseModel, Field

from anpr_access.domain.dpo import Decision, RequestKind, RequestState
from anpr_access.domain.legal import LegalTier
from anpr_access.domain.stats import Bucket, TrafficRow


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ImageKind(StrEnum):
    CROP = "crop"
    OVERVIEW = "overview"


class ReadOut(BaseModel):
    """One read of a passage; its images: GET /v1/passages/{event_id}/image with its event_id."""

    event_id: str
    camera_id: str
    captured_at: datetime
    direction: str
    plate: str
    formatted: str
    country: str
    format_valid: bool
    confidence: float
    camera_read: bool
    has_crop: bool
    has_overview: bool
    source_zone: str = Field(
        validation_alias=AliasChoices("zone_id", "source_zone"),
        description="the zone whose camera read it: this zone, or the neighbour zone that shared it",
    )


class PassageOut(BaseModel):
    """One vehicle passing one camera, with its reads (the frames it was read in), oldest first."""

    passage_id: str | None = Field(
        description="None for a read that no stored passage claims (yet): shown as a passage of its own"
    )
    camera_id: str
    direction: str
    first_seen: datetime
    last_seen: datetime
    plate: str = Field(description="the consensus of the reads")
    formatted: str
    country: str
    confidence: float
    reads: list[ReadOut]
    source_zone: str = Field(
        validation_alias=AliasChoices("zone_id", "source_zone"),
        description="the zone whose camera saw it: this zone, or the neighbour zone that shared its reads",
    )


class PassagePage(BaseModel):
    items: list[PassageOut]
    offset: int
    limit: int
    # The offset of the next page; None on the last page.
    next_offset: int | None
    legal_tier: LegalTier
    total: int = Field(
        description="passages the search finds over all its pages; when total_exact is false, more "
        "than this many (counting stops there)"
    )
    total_exact: bool = Field(description="false when the search finds more than `total` passages")


class HitOut(BaseModel):
    hit_id: str
    read_event_id: str
    camera_id: str
    captured_at: datetime
    plate_listed: str
    match_kind: str
    list_name: str
    priority: int


class TrafficReport(BaseModel):
    bucket: Bucket
    since: datetime
    until: datetime
    rows: list[TrafficRow]


class HoldIn(BaseModel):
    case_reference: str = Field(min_length=1, max_length=100, description="the case the hold serves")
    plate: str | None = Field(default=None, max_length=32)
    since: datetime | None = None
    until: datetime | None = None
    reason: str = Field(min_length=1, max_length=2000, description="why the records must be kept")


class HoldOut(BaseModel):
    hold_id: str
    case_reference: str
    plate: str | None
    since: datetime | None
    until: datetime | None
    reason: str
    decided_by: str
    created_at: datetime
    lifted_at: datetime | None
    records_covered: int | None = None


class RequestIn(BaseModel):
    kind: RequestKind
    requester: str = Field(min_length=1, max_length=200, description="who asks, as the DPO files them")
    plate: str = Field(min_length=1, max_length=32)
    since: datetime
    until: datetime
    camera_id: str | None = Field(default=None, max_length=64, description="the place, as a camera")
    place: str = Field(default="", max_length=200, description="the place, in the requester's words")
    details: str = Field(default="", max_length=4000)
    corrected_plate: str | None = Field(
        default=None, max_length=32, description="for rectification: the plate as it should read"
    )


class RequestOut(BaseModel):
    request_id: str
    kind: RequestKind
    state: RequestState
    requester: str
    plate: str
    since: datetime
    until: datetime
    camera_id: str | None
    place: str
    details: str
    corrected_plate: str | None
    registered_at: datetime
    deadline: datetime
    overdue: bool
    located_ids: list[str]
    decision: Decision | None
    decision_reasons: str | None
    decided_ids: list[str] | None
    outcome: str | None


class DecisionIn(BaseModel):
    decision: Decision
    reasons: str = Field(min_length=1, max_length=4000)
    record_ids: list[str] | None = Field(
        default=None,
        description="for a partial decision: the located records it covers; a grant covers the "
        "located records of the requester's exact plate",
    )
