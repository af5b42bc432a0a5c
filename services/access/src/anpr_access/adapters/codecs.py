"""The wire codecs: reads, passages and hits from their protobuf events to what access stores."""

from __future__ import annotations

from anpr.v1 import common_pb2, hit_pb2, passage_pb2, read_pb2
from anpr_access.domain.records import HitRecord, PassageRecord, ReadRecord
from anpr_access.domain.search import search_key
from anpr_core.consume import PoisonMessage
from anpr_core.events import from_timestamp
from anpr_core.plates import Confusables

_DIRECTION_NAMES = {
    common_pb2.DIRECTION_IN: "in",
    common_pb2.DIRECTION_OUT: "out",
    common_pb2.DIRECTION_BOTH: "both",
}


def decode_read(value: bytes, confusables: Confusables) -> ReadRecord:
    """A read from the reads topic, keyed with the zone's confusable classes; PoisonMessage when it
    names no event or camera."""
    read = read_pb2.PlateRead()
    read.ParseFromString(value)
    if not read.meta.event_id or not read.camera_id:
        raise PoisonMessage("read without event_id or camera_id")
    return read_record(read, confusables)


def read_record(read: read_pb2.PlateRead, confusables: Confusables) -> ReadRecord:
    return ReadRecord(
        event_id=read.meta.event_id,
        zone_id=read.meta.zone_id,
        camera_id=read.camera_id,
        captured_at=from_timestamp(read.captured_at),
        direction=_DIRECTION_NAMES.get(read.direction, "unknown"),
        plate=read.plate,
        plate_key=search_key(read.plate, confusables),
        formatted=read.formatted,
        country=read.country,
        format_valid=read.format_valid,
        confidence=read.confidence,
        candidates=[[c.text, round(c.confidence, 4)] for c in read.candidates],
        box=[read.box.x1, read.box.y1, read.box.x2, read.box.y2],
        frame_event_id=read.frame_event_id,
        camera_read=read.camera_read,
        reader=read.reader,
        plate_crop=read.plate_crop or None,
        overview=read.overview or None,
    )


def decode_passage(value: bytes, confusables: Confusables) -> PassageRecord:
    """A passage from the passages topic; PoisonMessage when it names no passage, camera or read."""
    passage = passage_pb2.Passage()
    passage.ParseFromString(value)
    if not passage.passage_id or not passage.camera_id or not passage.read_ids:
        raise PoisonMessage("passage without passage_id, camera_id or read_ids")
    return PassageRecord(
        passage_id=passage.passage_id,
        event_id=passage.meta.event_id,
        zone_id=passage.meta.zone_id or passage.zone,
        camera_id=passage.camera_id,
        direction=_DIRECTION_NAMES.get(passage.direction, "unknown"),
        first_seen=from_timestamp(passage.first_seen),
        last_seen=from_timestamp(passage.last_seen),
        plate=passage.plate,
        plate_key=search_key(passage.plate, confusables),
        formatted=passage.formatted,
        country=passage.country,
        confidence=passage.confidence,
        read_ids=tuple(passage.read_ids),
    )


def decode_hit(value: bytes) -> HitRecord:
    """A hit from the hits topic; PoisonMessage when it has no event id."""
    hit = hit_pb2.Hit()
    hit.ParseFromString(value)
    if not hit.meta.event_id:
        raise PoisonMessage("hit without event_id")
    return HitRecord(
        hit_id=hit.meta.event_id,
        zone_id=hit.meta.zone_id,
        read_event_id=hit.read_event_id,
        entry_id=hit.hotlist_entry_id,
        camera_id=hit.camera_id,
        captured_at=from_timestamp(hit.captured_at),
        plate_listed=hit.plate_listed,
        match_kind=hit_pb2.MatchKind.Name(hit.match_kind).removeprefix("MATCH_KIND_").lower(),
        list_name=hit.list_name,
        priority=hit.priority,
    )
