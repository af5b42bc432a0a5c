"""Conversions between match's domain objects and the wire events (protobuf), and a hit's stored row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, time
from typing import Any

from google.protobuf.message import DecodeError

from anpr.v1 import common_pb2, hit_pb2, hotlist_pb2, read_pb2, share_pb2
from anpr_core.bus import OutgoingRecord
from anpr_core.events import SCHEMA_VERSION, from_timestamp, new_meta, to_timestamp, utcnow
from anpr_core.ids import event_ids
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.domain.entries import (
    Category,
    Direction,
    HotlistEntry,
    ListRules,
    Match,
    MatchKind,
    SeenRead,
    SharingEnded,
    Withdrawal,
)

# Records on the hotlist topic that carry a list's rules rather than an entry.
KIND_HEADER = "schild-kind"
LIST_KIND = b"list"
# Records on the shared hotlist topic (share) that end a neighbour zone's shared lists.
ENDED_KIND = b"sharing-ended"
# Set on records whose entries the publishing replica already indexed (bulk import), so its own
# index consumer skips them instead of decoding and indexing a million entries a second time.
INDEXED_BY_HEADER = "schild-indexed-by"

_KINDS = {
    MatchKind.EXACT: hit_pb2.MATCH_KIND_EXACT,
    MatchKind.CONFUSABLE: hit_pb2.MATCH_KIND_CONFUSABLE,
    MatchKind.EDIT: hit_pb2.MATCH_KIND_EDIT,
}
_DIRECTIONS = {common_pb2.DIRECTION_IN: Direction.IN, common_pb2.DIRECTION_OUT: Direction.OUT}
_WIRE_DIRECTIONS = {Direction.IN: common_pb2.DIRECTION_IN, Direction.OUT: common_pb2.DIRECTION_OUT}
_ROW_DIRECTIONS = {1: "in", 2: "out"}
_ROW_KINDS = {hit_pb2.MATCH_KIND_EXACT: "exact", hit_pb2.MATCH_KIND_CONFUSABLE: "confusable", 3: "edit"}


def list_key(name: str) -> bytes:
    return f"list:{name}".encode()


def entry_to_event(
    entry: HotlistEntry, zone_id: str, deleted: bool = False, meta: common_pb2.EventMeta | None = None
) -> hotlist_pb2.HotlistEntry:
    event = hotlist_pb2.HotlistEntry(
        meta=meta or new_meta(zone_id, "match"),
        entry_id=entry.entry_id,
        plate=entry.plate,
        country=entry.country,
        list_name=entry.list_name,
        category=entry.category.value,
        priority=entry.priority,
        action=entry.action,
        valid_from=to_timestamp(entry.valid_from),
        source_zone=entry.source_zone,
        reason=entry.reason,
        case_reference=entry.case_reference,
        entered_by=entry.entered_by,
        deleted=deleted,
    )
    if entry.valid_until is not None:
        event.valid_until.CopyFrom(to_timestamp(entry.valid_until))
    return event


def entry_records(entries: Iterable[HotlistEntry], zone_id: str, deleted: bool = False) -> Iterator[bytes]:
    """Serialised events of many entries; one occurrence time for the batch, each its own event id.

    A bulk import sends a million: one message is filled again for each entry (constructing
    messages and converting each time through datetimes cost three times as much).
    """
    event = hotlist_pb2.HotlistEntry(deleted=deleted)
    meta = event.meta
    meta.occurred_at.CopyFrom(to_timestamp(utcnow()))
    meta.zone_id = zone_id
    meta.schema_version = SCHEMA_VERSION
    meta.producer = "match"
    valid_from = event.valid_from
    stamps: dict[datetime, tuple[int, int]] = {}

    def stamp(moment: datetime) -> tuple[int, int]:
        found = stamps.get(moment)
        if found is None:
            converted = to_timestamp(moment)
            found = stamps[moment] = (converted.seconds, converted.nanos)
        return found

    ids = event_ids()
    for entry in entries:
        meta.event_id = next(ids)
        event.entry_id = entry.entry_id
        event.plate = entry.plate
        event.country = entry.country
        event.list_name = entry.list_name
        event.category = entry.category.value
        event.priority = entry.priority
        event.action = entry.action
        valid_from.seconds, valid_from.nanos = stamp(entry.valid_from)
        if entry.valid_until is None:
            event.ClearField("valid_until")
        else:
            until = event.valid_until
            until.seconds, until.nanos = stamp(entry.valid_until)
        event.source_zone = entry.source_zone
        event.reason = entry.reason
        event.case_reference = entry.case_reference
        event.entered_by = entry.entered_by
        yield event.SerializeToString()


def entry_outgoing(
    entries: Sequence[HotlistEntry],
    topic: str,
    zone_id: str,
    *,
    deleted: bool = False,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> list[OutgoingRecord]:
    """The hotlist topic's records of entries, keyed by entry id (the topic is compacted)."""
    values = entry_records(entries, zone_id, deleted)
    return [
        OutgoingRecord(topic, entry.entry_id.encode(), value, headers)
        for entry, value in zip(entries, values, strict=True)
    ]


def rules_outgoing(rules: ListRules, topic: str, zone_id: str) -> OutgoingRecord:
    """The hotlist topic's record of a list's rules, keyed by the list and marked as a list."""
    value = rules_to_event(rules, zone_id).SerializeToString()
    return OutgoingRecord(topic, list_key(rules.name), value, ((KIND_HEADER, LIST_KIND),))


def entry_from_event(event: hotlist_pb2.HotlistEntry) -> HotlistEntry:
    return HotlistEntry(
        entry_id=event.entry_id,
        plate=event.plate,
        country=event.country,
        list_name=event.list_name,
        category=Category(event.category),
        priority=event.priority,
        action=event.action,
        valid_from=from_timestamp(event.valid_from),
        valid_until=from_timestamp(event.valid_until) if event.HasField("valid_until") else None,
        source_zone=event.source_zone,
        reason=event.reason,
        case_reference=event.case_reference,
        entered_by=event.entered_by,
    )


def _clock(value: time | None) -> str:
    return "" if value is None else value.strftime("%H:%M")


def _time_of(value: str) -> time | None:
    return time.fromisoformat(value) if value else None


def rules_to_event(rules: ListRules, zone_id: str) -> hotlist_pb2.HotlistRules:
    return hotlist_pb2.HotlistRules(
        meta=new_meta(zone_id, "match"),
        list_name=rules.name,
        category=rules.category.value,
        max_substitutions=rules.max_substitutions,
        allow_edit=rules.allow_edit,
        directions=sorted(_WIRE_DIRECTIONS[d] for d in rules.directions if d in _WIRE_DIRECTIONS),
        active_from=_clock(rules.active_from),
        active_until=_clock(rules.active_until),
        timezone=rules.timezone,
        camera_ids=sorted(rules.camera_ids),
        description=rules.description,
        owner_zone=rules.owner_zone,
    )


def rules_from_event(event: hotlist_pb2.HotlistRules) -> ListRules:
    return ListRules(
        name=event.list_name,
        category=Category(event.category),
        max_substitutions=event.max_substitutions,
        allow_edit=event.allow_edit,
        directions=frozenset(_DIRECTIONS[d] for d in event.directions if d in _DIRECTIONS),
        active_from=_time_of(event.active_from),
        active_until=_time_of(event.active_until),
        timezone=event.timezone or "Europe/Brussels",
        camera_ids=frozenset(event.camera_ids),
        description=event.description,
        owner_zone=event.owner_zone,
    )


def seen_read_of(read: read_pb2.PlateRead) -> SeenRead:
    readings = [(read.plate, float(read.confidence))]
    readings.extend((c.text, float(c.confidence)) for c in read.candidates if c.text != read.plate)
    return SeenRead(
        event_id=read.meta.event_id,
        camera_id=read.camera_id,
        captured_at=from_timestamp(read.captured_at),
        direction=_DIRECTIONS.get(read.direction, Direction.UNKNOWN),
        readings=tuple(readings),
    )


def seen_read_from(value: bytes) -> SeenRead | None:
    """A read record's value as matching needs it; None for one that cannot be (the consumer
    dead-letters it when it comes to it)."""
    read = read_pb2.PlateRead()
    try:
        read.ParseFromString(value)
        return seen_read_of(read) if read.meta.event_id else None
    except (DecodeError, ValueError, OverflowError):
        return None


def readings_of(read: read_pb2.PlateRead) -> list[tuple[str, float]]:
    return list(seen_read_of(read).readings)


def hit_for(
    read: SeenRead, match: Match, zone_id: str, *, from_lookback: bool = False, source_zone: str = ""
) -> hit_pb2.Hit:
    """`source_zone`: the neighbour zone whose shared list the entry is on ("" for this zone's)."""
    meta = new_meta(zone_id, "match")
    meta.event_id = hit_event_id(read.event_id, match.entry.entry_id)
    return hit_pb2.Hit(
        meta=meta,
        read_event_id=read.event_id,
        hotlist_entry_id=match.entry.entry_id,
        camera_id=read.camera_id,
        captured_at=to_timestamp(read.captured_at),
        plate_read=match.plate_read,
        plate_listed=match.entry.plate,
        match_kind=_KINDS[match.kind],
        differing_positions=list(match.differing_positions),
        score=match.score,
        list_name=match.entry.list_name,
        category=match.entry.category.value,
        priority=match.entry.priority,
        action=match.entry.action,
        direction=_WIRE_DIRECTIONS.get(read.direction, common_pb2.DIRECTION_UNSPECIFIED),
        from_lookback=from_lookback,
        country_listed=match.entry.country,
        source_zone=source_zone,
    )


def hotlist_change_of(
    headers: Sequence[tuple[str, bytes]], value: bytes
) -> ListRules | HotlistEntry | Withdrawal:
    """A hotlist record: a list's rules, an entry as entered or changed, or an entry withdrawn.

    Raises DecodeError for bytes that are no such record, ValueError for one with invalid fields.
    """
    if (KIND_HEADER, LIST_KIND) in headers:
        rules = hotlist_pb2.HotlistRules()
        rules.ParseFromString(value)
        return rules_from_event(rules)
    event = hotlist_pb2.HotlistEntry()
    event.ParseFromString(value)
    if event.deleted:
        return Withdrawal(event.entry_id)
    return entry_from_event(event)


def shared_change_of(
    headers: Sequence[tuple[str, bytes]], value: bytes
) -> tuple[str, ListRules | HotlistEntry | Withdrawal | SharingEnded]:
    """A record of the shared hotlist topic, with the neighbour zone it is from (share checked the
    zone against the topic it came on): a neighbour's list, entry or withdrawal as share took it in,
    or the end of a neighbour's sharing. Raises DecodeError or ValueError as hotlist_change_of."""
    if (KIND_HEADER, ENDED_KIND) in headers:
        ended = share_pb2.SharingEnded()
        ended.ParseFromString(value)
        return ended.zone_id, SharingEnded(ended.zone_id, from_timestamp(ended.ended_at))
    if (KIND_HEADER, LIST_KIND) in headers:
        rules = hotlist_pb2.HotlistRules()
        rules.ParseFromString(value)
        return rules.owner_zone, rules_from_event(rules)
    event = hotlist_pb2.HotlistEntry()
    event.ParseFromString(value)
    if event.deleted:
        return event.source_zone, Withdrawal(event.entry_id)
    return event.source_zone, entry_from_event(event)


def hit_row(hit: hit_pb2.Hit) -> dict[str, Any]:
    return {
        "hit_id": hit.meta.event_id,
        "read_event_id": hit.read_event_id,
        "entry_id": hit.hotlist_entry_id,
        "camera_id": hit.camera_id,
        "captured_at": from_timestamp(hit.captured_at),
        "plate_read": hit.plate_read,
        "plate_listed": hit.plate_listed,
        "match_kind": _ROW_KINDS.get(hit.match_kind, "exact"),
        "differing_positions": ",".join(str(p) for p in hit.differing_positions),
        "score": hit.score,
        "list_name": hit.list_name,
        "category": hit.category,
        "priority": hit.priority,
        "action": hit.action,
        "direction": _ROW_DIRECTIONS.get(hit.direction, "unknown"),
        "from_lookback": hit.from_lookback,
        "source_zone": hit.source_zone,
        "created_at": utcnow(),
    }


def hit_view(value: bytes) -> dict[str, Any]:
    """A hit record as the live stream shows it: its row, JSON-ready, without the row's own time."""
    hit = hit_pb2.Hit()
    hit.ParseFromString(value)
    row = hit_row(hit)
    row.pop("created_at")
    row["differing_positions"] = list(hit.differing_positions)
    row["captured_at"] = row["captured_at"].isoformat()
    return row
