"""Conversions between match's domain objects and the wire events."""

from __future__ import annotations

from anpr.v1 import common_pb2, hit_pb2, hotlist_pb2, read_pb2
from anpr_core.events import from_timestamp, new_meta, to_timestamp
from anpr_match.domain import Category, HotlistEntry, Match, MatchKind, hit_event_id

_KINDS = {
    MatchKind.EXACT: hit_pb2.MATCH_KIND_EXACT,
    MatchKind.CONFUSABLE: hit_pb2.MATCH_KIND_CONFUSABLE,
    MatchKind.EDIT: hit_pb2.MATCH_KIND_EDIT,
}


def entry_to_event(entry: HotlistEntry, zone_id: str, deleted: bool = False) -> hotlist_pb2.HotlistEntry:
    event = hotlist_pb2.HotlistEntry(
        meta=new_meta(zone_id, "match"),
        entry_id=entry.entry_id,
        plate=entry.plate,
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


def entry_from_event(event: hotlist_pb2.HotlistEntry) -> HotlistEntry:
    return HotlistEntry(
        entry_id=event.entry_id,
        plate=event.plate,
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


def readings_of(read: read_pb2.PlateRead) -> list[tuple[str, float]]:
    readings = [(read.plate, read.confidence)]
    readings.extend((c.text, c.confidence) for c in read.candidates if c.text != read.plate)
    return readings


def hit_for(read: read_pb2.PlateRead, match: Match, zone_id: str) -> hit_pb2.Hit:
    meta = new_meta(zone_id, "match")
    meta.event_id = hit_event_id(read.meta.event_id, match.entry.entry_id)
    return hit_pb2.Hit(
        meta=meta,
        read_event_id=read.meta.event_id,
        hotlist_entry_id=match.entry.entry_id,
        camera_id=read.camera_id,
        captured_at=read.captured_at,
        plate_read=match.plate_read,
        plate_listed=match.entry.plate,
        match_kind=_KINDS[match.kind],
        differing_positions=list(match.differing_positions),
        score=match.score,
        list_name=match.entry.list_name,
        category=match.entry.category.value,
        priority=match.entry.priority,
        action=match.entry.action,
        direction=read.direction if read.direction else common_pb2.DIRECTION_UNSPECIFIED,
    )
