"""The wire codecs of sharing: this zone's reads and hotlist records minimised to what an agreement
allows, a neighbour's records read and checked, the end of a sharing, the register's entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from anpr.v1 import camera_pb2, hotlist_pb2, read_pb2, share_pb2
from anpr_core.events import from_timestamp, new_meta, to_timestamp
from anpr_share.domain.agreements import ReadField
from anpr_share.domain.zone_topics import SharedKind
from anpr_share.handlers.views import (
    CameraView,
    Encoded,
    HotlistView,
    NeighbourKind,
    NeighbourRecord,
    ReadView,
    SharingEnd,
)

# Match's header on the hotlist topics: a list's rules, or (share) the end of a zone's sharing.
KIND_HEADER = "schild-kind"
LIST_KIND = b"list"
ENDED_KIND = b"sharing-ended"
_LIST_HEADERS = ((KIND_HEADER, LIST_KIND),)
_ENDED_HEADERS = ((KIND_HEADER, ENDED_KIND),)


def _kind(headers: Sequence[tuple[str, bytes]]) -> bytes:
    return next((value for name, value in headers if name == KIND_HEADER), b"")


class ShareCodec:
    def __init__(self, zone_id: str) -> None:
        self._zone_id = zone_id

    # --- out: this zone's records, minimised --------------------------------------------------

    def read(self, value: bytes) -> ReadView:
        """Raises DecodeError for bytes that are no read."""
        read = read_pb2.PlateRead()
        read.ParseFromString(value)
        return ReadView(read.meta.event_id, read.camera_id, read.meta.zone_id, read)

    def minimised_read(self, view: ReadView, fields: frozenset[ReadField]) -> bytes:
        """The read with only `fields` (its event id, zone and publication time always): nothing
        the agreement does not name leaves the zone, whatever fields reads gain later."""
        read: read_pb2.PlateRead = view.message
        out = read_pb2.PlateRead()
        out.meta.CopyFrom(read.meta)
        out.meta.zone_id = self._zone_id
        out.meta.producer = "share"
        if ReadField.PLATE in fields:
            out.plate, out.formatted, out.format_valid = read.plate, read.formatted, read.format_valid
        if ReadField.COUNTRY in fields:
            out.country = read.country
        if ReadField.TIME in fields:
            out.captured_at.CopyFrom(read.captured_at)
        if ReadField.CAMERA in fields:
            out.camera_id = read.camera_id
        if ReadField.DIRECTION in fields:
            out.direction = read.direction
        if ReadField.CONFIDENCE in fields:
            out.confidence = read.confidence
        if ReadField.CANDIDATES in fields:
            out.candidates.extend(read.candidates)
        if ReadField.VEHICLE in fields and read.HasField("vehicle"):
            out.vehicle.CopyFrom(read.vehicle)
        if ReadField.CROP in fields:
            out.plate_crop = read.plate_crop
        if ReadField.OVERVIEW in fields:
            out.overview = read.overview
            if read.HasField("box"):
                out.box.CopyFrom(read.box)
        return out.SerializeToString()

    def hotlist(self, headers: Sequence[tuple[str, bytes]], value: bytes) -> HotlistView:
        """A record of the hotlist topic; raises DecodeError for bytes that are none."""
        if _kind(headers) == LIST_KIND:
            rules = hotlist_pb2.HotlistRules()
            rules.ParseFromString(value)
            return HotlistView(
                f"list:{rules.list_name}", rules.list_name, rules.category, rules.owner_zone, rules, True
            )
        entry = hotlist_pb2.HotlistEntry()
        entry.ParseFromString(value)
        owner = entry.source_zone if entry.source_zone != self._zone_id else ""
        return HotlistView(entry.entry_id, entry.list_name, entry.category, owner, entry, False)

    def minimised_hotlist(self, view: HotlistView) -> Encoded:
        """An entry without its reason, case and who entered it (internal to the zone); a list's
        rules without what is about this zone's cameras, hours and words (its cameras, directions,
        active hours, description)."""
        if view.is_rules:
            rules: hotlist_pb2.HotlistRules = view.message
            shared_rules = hotlist_pb2.HotlistRules(
                meta=new_meta(self._zone_id, "share"),
                list_name=rules.list_name,
                category=rules.category,
                max_substitutions=rules.max_substitutions,
                allow_edit=rules.allow_edit,
                owner_zone=self._zone_id,
            )
            return Encoded(shared_rules.SerializeToString(), _LIST_HEADERS)
        entry: hotlist_pb2.HotlistEntry = view.message
        shared = hotlist_pb2.HotlistEntry(
            entry_id=entry.entry_id,
            plate=entry.plate,
            country=entry.country,
            list_name=entry.list_name,
            category=entry.category,
            priority=entry.priority,
            action=entry.action,
            source_zone=self._zone_id,
            deleted=entry.deleted,
        )
        shared.meta.CopyFrom(entry.meta)
        shared.meta.zone_id = self._zone_id
        shared.meta.producer = "share"
        shared.valid_from.CopyFrom(entry.valid_from)
        if entry.HasField("valid_until"):
            shared.valid_until.CopyFrom(entry.valid_until)
        return Encoded(shared.SerializeToString())

    def sharing_ended(self, end: SharingEnd) -> Encoded:
        ended = share_pb2.SharingEnded(
            meta=new_meta(self._zone_id, "share"),
            zone_id=end.zone_id,
            ended_at=to_timestamp(end.ended_at),
            agreement_reference=end.reference,
            reason=end.reason,
        )
        return Encoded(ended.SerializeToString(), _ENDED_HEADERS)

    # --- in: a neighbour's records ---------------------------------------------------------------

    def neighbour(
        self, kind: SharedKind, headers: Sequence[tuple[str, bytes]], value: bytes
    ) -> NeighbourRecord:
        """A record of a neighbour's topic and the zone it claims to come from; raises DecodeError
        for bytes that are no such record."""
        if kind is SharedKind.READS:
            read = read_pb2.PlateRead()
            read.ParseFromString(value)
            return NeighbourRecord(
                NeighbourKind.READ, frozenset({read.meta.zone_id}), read.meta.event_id, read
            )
        header = _kind(headers)
        if header == ENDED_KIND:
            ended = share_pb2.SharingEnded()
            ended.ParseFromString(value)
            claims = frozenset({ended.meta.zone_id, ended.zone_id})
            return NeighbourRecord(NeighbourKind.ENDED, claims, f"ended:{ended.zone_id}", ended)
        if header == LIST_KIND:
            rules = hotlist_pb2.HotlistRules()
            rules.ParseFromString(value)
            claims = frozenset({rules.meta.zone_id, rules.owner_zone})
            return NeighbourRecord(NeighbourKind.RULES, claims, f"list:{rules.list_name}", rules)
        entry = hotlist_pb2.HotlistEntry()
        entry.ParseFromString(value)
        claims = frozenset({entry.meta.zone_id, entry.source_zone})
        return NeighbourRecord(NeighbourKind.ENTRY, claims, entry.entry_id, entry)

    def accepted(self, record: NeighbourRecord, ends_at: datetime | None) -> Encoded:
        """The record as it goes on this zone's shared topics; an entry ends no later than the
        agreement it came under (`ends_at`)."""
        message = record.message
        if record.kind is NeighbourKind.ENTRY:
            entry: hotlist_pb2.HotlistEntry = message
            if ends_at is not None and (
                not entry.HasField("valid_until") or from_timestamp(entry.valid_until) > ends_at
            ):
                entry.valid_until.CopyFrom(to_timestamp(ends_at))
            return Encoded(entry.SerializeToString())
        if record.kind is NeighbourKind.RULES:
            return Encoded(message.SerializeToString(), _LIST_HEADERS)
        if record.kind is NeighbourKind.ENDED:
            return Encoded(message.SerializeToString(), _ENDED_HEADERS)
        return Encoded(message.SerializeToString())

    # --- the camera register -------------------------------------------------------------------

    def camera(self, value: bytes) -> CameraView:
        entry = camera_pb2.CameraEntry()
        entry.ParseFromString(value)
        return CameraView(
            entry.camera_id, entry.border_camera, entry.neighbour_zone_id, entry.status == "retired"
        )
