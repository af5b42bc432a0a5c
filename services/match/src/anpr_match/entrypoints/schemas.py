"""Match's REST bodies: what a request may hold (checked here, so a handler gets sound values) and
what an answer holds, as the OpenAPI description names them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, time
from typing import Any, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from anpr_core.plates import normalise_plate
from anpr_core.problems import Problem
from anpr_match.domain.entries import LIST_NAME_PATTERN, PLATE_PATTERN, Category, Direction, ListRules
from anpr_match.domain.operators import AckOutcome
from anpr_match.handlers.entries import EntryRequest, EntryState


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("validity times need a timezone offset")
    try:
        moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("validity times must lie between the years 1 and 9999 in UTC") from error
    return moment


# A time of day on the clock of the list's timezone: no offset, since it is not a moment (22:00 is
# 22:00 in Brussels in winter and in summer).
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _clock(value: str | None) -> time | None:
    return None if value is None else time.fromisoformat(value)


def _clock_text(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


class ListIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=LIST_NAME_PATTERN.pattern)
    category: Category
    max_substitutions: int = Field(default=1, ge=0, le=3, description="Confusable characters allowed")
    allow_edit: bool = Field(default=False, description="Whether one inserted or missing character matches")
    directions: list[Direction] = Field(default_factory=list, description="Empty: any direction")
    active_from: str | None = Field(
        default=None,
        pattern=CLOCK_PATTERN,
        description="HH:MM, local time of day in `timezone` (no offset); with active_until",
        examples=["22:00"],
    )
    active_until: str | None = Field(default=None, pattern=CLOCK_PATTERN, examples=["06:00"])
    timezone: str = Field(default="Europe/Brussels", max_length=64, description="An IANA timezone")
    camera_ids: list[str] = Field(default_factory=list, description="Empty: every camera", max_length=1000)
    description: str = Field(default="", max_length=500)

    def rules(self) -> ListRules:
        try:
            return ListRules(
                name=self.name,
                category=self.category,
                max_substitutions=self.max_substitutions,
                allow_edit=self.allow_edit,
                directions=frozenset(d for d in self.directions if d is not Direction.UNKNOWN),
                active_from=_clock(self.active_from),
                active_until=_clock(self.active_until),
                timezone=self.timezone,
                camera_ids=frozenset(self.camera_ids),
                description=self.description,
            )
        except (ValueError, LookupError) as error:
            raise Problem(422, "Invalid list", f"{error}; correct the list's rules and retry") from error


class ListOut(BaseModel):
    name: str
    category: Category
    max_substitutions: int
    allow_edit: bool
    directions: list[Direction]
    active_from: str | None = Field(description="HH:MM, local time of day in `timezone`")
    active_until: str | None = Field(description="HH:MM, local time of day in `timezone`")
    timezone: str
    camera_ids: list[str]
    description: str
    owner_zone: str = Field(
        default="",
        description="The neighbour zone whose shared list it is (only that zone changes it); "
        "empty: this zone's own",
    )

    @classmethod
    def of(cls, rules: ListRules) -> Self:
        fields = asdict(rules)
        fields["directions"] = sorted(rules.directions)
        fields["camera_ids"] = sorted(rules.camera_ids)
        fields["active_from"] = _clock_text(rules.active_from)
        fields["active_until"] = _clock_text(rules.active_until)
        return cls(**fields)


class EntryIn(BaseModel):
    plate: str = Field(description="Any separators; stored normalised, e.g. 1-ABC-234 -> 1ABC234")
    country: str = Field(default="", pattern=r"^([A-Za-z]{2})?$", description="ISO 3166 alpha-2, optional")
    list_name: str = Field(min_length=1, max_length=64, description="An existing list (POST /v1/lists)")
    category: Category | None = Field(default=None, description="Default: the list's category")
    priority: int = Field(default=1, ge=0, le=9)
    action: str = Field(default="notify", min_length=1, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    reason: str = Field(min_length=1, max_length=500)
    case_reference: str = Field(min_length=1, max_length=100)

    @field_validator("plate")
    @classmethod
    def _plate_is_plausible(cls, value: str) -> str:
        plate = normalise_plate(value)
        if not PLATE_PATTERN.match(plate):
            raise ValueError("a plate has 2 to 12 letters or digits")
        return plate

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        _aware(self.valid_from)
        _aware(self.valid_until)
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    def request(self) -> EntryRequest:
        return EntryRequest(
            plate=self.plate,
            country=self.country,
            list_name=self.list_name,
            category=self.category,
            priority=self.priority,
            action=self.action,
            valid_from=_utc(self.valid_from),
            valid_until=_utc(self.valid_until),
            reason=self.reason,
            case_reference=self.case_reference,
        )


class EntryChange(BaseModel):
    """Fields to change; the entry keeps the others. Every change is audited.

    Only `valid_until` may be null (the entry no longer ends); the others are left out to keep them.
    """

    # The defaults stand for "left out" and are never validated; a null sent is refused (422).
    priority: int = Field(default=None, ge=0, le=9)  # type: ignore[assignment]
    action: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    valid_until: datetime | None = Field(default=None, description="null: the entry no longer ends")
    reason: str = Field(default=None, min_length=1, max_length=500)  # type: ignore[assignment]
    case_reference: str = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        _aware(self.valid_until)
        if not self.model_fields_set:
            raise ValueError("give at least one of priority, action, valid_until, reason, case_reference")
        return self

    def changes(self) -> dict[str, Any]:
        changed = {name: getattr(self, name) for name in self.model_fields_set}
        if changed.get("valid_until") is not None:
            changed["valid_until"] = _utc(changed["valid_until"])
        return changed


class ExpiryIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why the entry ends now")


class EntryOut(BaseModel):
    entry_id: str
    plate: str
    country: str
    list_name: str
    category: Category
    priority: int
    action: str
    valid_from: datetime
    valid_until: datetime | None
    source_zone: str
    reason: str
    case_reference: str
    entered_by: str
    indexed: bool = Field(description="Whether this replica's matching index holds the entry yet")

    @classmethod
    def of(cls, state: EntryState) -> Self:
        return cls(**state.entry.__dict__, indexed=state.indexed)


class ImportOut(BaseModel):
    imported: int
    lists: list[str]


class AckIn(BaseModel):
    outcome: AckOutcome
    reason: str = Field(default="", max_length=500, description="Required for a false alarm")

    @model_validator(mode="after")
    def _false_alarm_has_reason(self) -> Self:
        if self.outcome is AckOutcome.FALSE_ALARM and not self.reason.strip():
            raise ValueError("a false alarm needs a reason, e.g. 'plate read 8 for B, other car'")
        return self


class HitOut(BaseModel):
    hit_id: str
    read_event_id: str
    entry_id: str
    camera_id: str
    captured_at: datetime
    plate_read: str
    plate_listed: str
    match_kind: str
    differing_positions: list[int]
    score: float
    list_name: str
    category: str
    priority: int
    action: str
    direction: str
    from_lookback: bool
    source_zone: str = Field(
        default="", description="The neighbour zone whose shared list was hit; empty: this zone's own list"
    )
    ack_outcome: str | None
    ack_reason: str | None
    ack_by: str | None
    ack_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Self:
        fields = {k: v for k, v in row.items() if k in cls.model_fields}
        text = fields.get("differing_positions") or ""
        fields["differing_positions"] = [int(p) for p in text.split(",") if p]
        return cls(**fields)
