"""Frames and camera-side reads (the platform's own form, and vendor cameras') as the protobuf events
ingest publishes (anpr.v1.Frame on the frames topic, anpr.v1.PlateRead on the reads topic), each
keyed by its camera and ready to publish once."""

from __future__ import annotations

from datetime import datetime

from anpr.v1 import common_pb2, frame_pb2, read_pb2
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_ingest.domain.cameras import Camera, Direction
from anpr_ingest.domain.images import ImageInfo
from anpr_ingest.domain.intake import Intake, IntakeEntry
from anpr_ingest.domain.vendors.mapping import CameraRead

_DIRECTIONS = {
    Direction.IN: common_pb2.DIRECTION_IN,
    Direction.OUT: common_pb2.DIRECTION_OUT,
    Direction.BOTH: common_pb2.DIRECTION_BOTH,
}
# Frame.image: field number, wire type 2 (length-delimited); one byte while the number is below 16.
_IMAGE_TAG = bytes([frame_pb2.Frame.DESCRIPTOR.fields_by_name["image"].number << 3 | 2])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame_record(frame: frame_pb2.Frame, image: bytes) -> bytes:
    """`frame` (without its image) serialized with `image` as its image field, the image copied once
    instead of twice (into the message, then out): a parser takes fields in any order."""
    return b"".join((frame.SerializeToString(), _IMAGE_TAG, _varint(len(image)), image))


def reading_region(camera: Camera) -> frame_pb2.ReadingRegion:
    """The camera's region of interest and plate width, as each of its frames carries them to detect."""
    return frame_pb2.ReadingRegion(
        polygon=[frame_pb2.PixelPoint(x=x, y=y) for x, y in camera.region or ()],
        min_plate_width=camera.min_plate_width or 0,
        max_plate_width=camera.max_plate_width or 0,
    )


class IntakeEvents:
    """Builds the intake (dedupe entry and record) of a frame or read, for this zone's topics."""

    def __init__(self, zone_id: str, topics: Topics) -> None:
        self._zone_id = zone_id
        self._topics = topics

    def frame(
        self,
        camera: Camera,
        captured_at: datetime,
        info: ImageInfo,
        digest: str,
        event_id: str,
        image: bytes,
        now: datetime,
    ) -> Intake:
        meta = new_meta(self._zone_id, "ingest")
        meta.event_id = event_id
        frame = frame_pb2.Frame(
            meta=meta,
            camera_id=camera.camera_id,
            captured_at=to_timestamp(captured_at),
            content_type=info.content_type,
            width=info.width,
            height=info.height,
            sha256=digest,
            direction=_DIRECTIONS[Direction(camera.direction)],
        )
        if camera.region or camera.min_plate_width or camera.max_plate_width:
            frame.region.CopyFrom(reading_region(camera))
        return Intake(
            IntakeEntry(camera.camera_id, captured_at, digest, event_id, now),
            self._topics.frames,
            camera.camera_id.encode(),
            frame_record(frame, image),
        )

    def read(
        self,
        camera: Camera,
        captured_at: datetime,
        plate: str,
        confidence: float,
        crop: bytes,
        digest: str,
        event_id: str,
        now: datetime,
    ) -> Intake:
        meta = new_meta(self._zone_id, "ingest")
        meta.event_id = event_id
        read = read_pb2.PlateRead(
            meta=meta,
            camera_id=camera.camera_id,
            captured_at=to_timestamp(captured_at),
            direction=_DIRECTIONS[Direction(camera.direction)],
            plate=plate,
            confidence=confidence,
            candidates=[read_pb2.PlateCandidate(text=plate, confidence=confidence)],
            camera_read=True,
            plate_crop=crop,
            reader=f"camera:{camera.camera_id}",
        )
        return Intake(
            IntakeEntry(camera.camera_id, captured_at, digest, event_id, now),
            self._topics.reads,
            camera.camera_id.encode(),
            read.SerializeToString(),
        )

    def vendor_read(
        self, camera: Camera, read: CameraRead, digest: str, event_id: str, now: datetime
    ) -> Intake:
        """A vendor camera's read, with what it said beyond the plate (country, per-character
        confidences, box, overview, vehicle attributes); its direction is the zone's, mapped
        through the register."""
        meta = new_meta(self._zone_id, "ingest")
        meta.event_id = event_id
        event = read_pb2.PlateRead(
            meta=meta,
            camera_id=camera.camera_id,
            captured_at=to_timestamp(read.captured_at),
            direction=_DIRECTIONS[read.direction],
            plate=read.plate,
            country=read.country,
            confidence=read.confidence,
            candidates=[read_pb2.PlateCandidate(text=read.plate, confidence=read.confidence)],
            character_probabilities=read.char_confidences,
            camera_read=True,
            plate_crop=read.crop,
            overview=read.overview,
            reader=f"camera:{camera.camera_id}:{read.vendor.value}",
        )
        if read.box is not None:
            event.box.CopyFrom(common_pb2.Box(x1=read.box[0], y1=read.box[1], x2=read.box[2], y2=read.box[3]))
        if read.vehicle_type or read.vehicle_colour or read.vehicle_make:
            event.vehicle.CopyFrom(
                read_pb2.VehicleAttributes(
                    type=read.vehicle_type, colour=read.vehicle_colour, make=read.vehicle_make
                )
            )
        return Intake(
            IntakeEntry(camera.camera_id, read.captured_at, digest, event_id, now),
            self._topics.reads,
            camera.camera_id.encode(),
            event.SerializeToString(),
        )
