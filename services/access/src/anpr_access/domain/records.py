"""What access keeps: passages and their reads with images, hits, legal holds and data subjects'
requests. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from anpr_access.domain.dpo import Decision, RequestKind, RequestState, is_overdue


@dataclass(frozen=True)
class ReadRecord:
    """One plate read as stored, with the plate crop and the overview frame (None when absent)."""

    event_id: str
    zone_id: str
    camera_id: str
    captured_at: datetime
    direction: str
    plate: str
    # Each character replaced by its OCR-confusable class representative: fuzzy search is a lookup.
    plate_key: str
    formatted: str
    country: str
    format_valid: bool
    confidence: float
    candidates: list[list[object]]
    box: list[int]
    frame_event_id: str
    camera_read: bool
    reader: str
    plate_crop: bytes | None
    overview: bytes | None


@dataclass(frozen=True)
class PassageRecord:
    """One vehicle passing one camera: its reads fused, with a consensus plate."""

    passage_id: str
    event_id: str
    zone_id: str
    camera_id: str
    direction: str
    first_seen: datetime
    last_seen: datetime
    plate: str
    plate_key: str
    formatted: str
    country: str
    confidence: float
    read_ids: tuple[str, ...]


@dataclass(frozen=True)
class ReadSummary:
    """A read as a search shows it: whether its images exist, not the images."""

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
    # The zone whose camera read it: this zone, or a neighbour that shared it under an agreement.
    zone_id: str = ""


@dataclass(frozen=True)
class PassageView:
    """A passage as a search shows it, with its reads. A read that no stored passage claims (its
    passage not stored yet, or lost) is shown as a passage of its own, without a passage_id."""

    passage_id: str | None
    camera_id: str
    direction: str
    first_seen: datetime
    last_seen: datetime
    plate: str
    formatted: str
    country: str
    confidence: float
    reads: list[ReadSummary]
    zone_id: str = ""

    @property
    def record_ids(self) -> list[str]:
        """What a look at it shows: the passage and each read."""
        return ([self.passage_id] if self.passage_id else []) + [read.event_id for read in self.reads]


@dataclass(frozen=True)
class ReadImages:
    captured_at: datetime
    plate_crop: bytes | None
    overview: bytes | None
    passage_id: str | None = None


@dataclass(frozen=True)
class HitRecord:
    hit_id: str
    zone_id: str
    read_event_id: str
    entry_id: str
    camera_id: str
    captured_at: datetime
    plate_listed: str
    match_kind: str
    list_name: str
    priority: int


@dataclass(frozen=True)
class Hold:
    """A legal hold: keeps a case's records past retention, and refuses their erasure, until lifted."""

    hold_id: str
    case_reference: str
    plate: str | None
    since: datetime | None
    until: datetime | None
    reason: str
    decided_by: str
    created_at: datetime
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None


@dataclass(frozen=True)
class DpoRequest:
    """A data subject's request, as registered and as it moves through its steps."""

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
    located_ids: list[str]
    decision: Decision | None
    decision_reasons: str | None
    decided_ids: list[str] | None
    outcome: str | None
    updated_at: datetime

    def overdue(self, now: datetime) -> bool:
        return is_overdue(self.deadline, self.state, now)
