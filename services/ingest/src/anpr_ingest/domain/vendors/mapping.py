"""A vendor's read as the platform's camera read: the plate normalised with the platform's one
vocabulary, the confidence on 0..1, the direction of travel as the zone's in or out (through the
register's direction), the capture time with its offset (the camera's time zone where it gave
none); and which reads of a tracked vehicle are worth publishing. No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from anpr_ingest.domain.cameras import Direction
from anpr_ingest.domain.intake import check_read
from anpr_ingest.domain.vendors.model import TrackState, Travel, Vendor, VendorRead
from anpr_ingest.domain.vendors.times import localised

# A camera that gives no confidence reported the plate as read: it counts as certain, not as 0
# (which no hotlist rule would ever let through).
UNSTATED_CONFIDENCE = 1.0
# Attributes are the camera's own words, kept short.
_ATTRIBUTE_CHARS = 64
# How long a tracked vehicle (Axis carID) is remembered: far past its LOST (10 s after its last read
# by default), short enough that a camera's restarted counter meets no old vehicle.
TRACK_MEMORY = timedelta(minutes=10)


@dataclass(frozen=True)
class CameraRead:
    """A vendor read in the platform's terms, checked, ready to become a PlateRead."""

    vendor: Vendor
    plate: str
    confidence: float
    captured_at: datetime  # aware
    direction: Direction
    country: str = ""
    char_confidences: tuple[float, ...] = ()
    crop: bytes = b""
    overview: bytes = b""
    box: tuple[int, int, int, int] | None = None
    vehicle_type: str = ""
    vehicle_colour: str = ""
    vehicle_make: str = ""
    track: str = ""
    state: TrackState | None = None


def zone_direction(registered: Direction, travel: Travel) -> Direction:
    """The zone's direction of a vehicle from the camera's registered direction and the way the
    vehicle moved. A camera registered `in` (or `out`) watches traffic entering (leaving) the zone
    coming towards it: a vehicle moving away from it goes the other way. A camera registered `both`
    is set so that vehicles coming towards it enter the zone."""
    if registered is Direction.BOTH:
        return {Travel.TOWARDS: Direction.IN, Travel.AWAY: Direction.OUT}.get(travel, Direction.BOTH)
    if travel is Travel.AWAY:
        return Direction.OUT if registered is Direction.IN else Direction.IN
    return registered


def camera_read(
    vendor: Vendor,
    read: VendorRead,
    registered: Direction,
    zone: tzinfo,
    now: datetime,
    max_skew: timedelta,
) -> CameraRead:
    """Maps and checks one read (plate, confidence, clock skew: RejectedFrame when refused)."""
    captured_at = localised(read.captured_at, zone)
    confidence = UNSTATED_CONFIDENCE if read.confidence is None else read.confidence
    plate = check_read(read.text, confidence, captured_at, now, max_skew)
    # Per-character confidences only where they line up with the normalised plate's characters.
    characters = read.char_confidences if len(read.char_confidences) == len(plate) else ()
    return CameraRead(
        vendor=vendor,
        plate=plate,
        confidence=confidence,
        captured_at=captured_at,
        direction=zone_direction(registered, read.travel),
        country=read.country[:2],
        char_confidences=characters,
        crop=read.crop,
        overview=read.overview,
        box=read.box,
        vehicle_type=read.vehicle_type[:_ATTRIBUTE_CHARS],
        vehicle_colour=read.vehicle_colour[:_ATTRIBUTE_CHARS],
        vehicle_make=read.vehicle_make[:_ATTRIBUTE_CHARS],
        track=read.track[:64],
        state=read.state,
    )


def vendor_read_digest(read: CameraRead) -> str:
    """The content a vendor read's event id is derived from: the same push sent again is the same
    event; the prefix keeps vendor reads apart from the platform's own reads and frames."""
    hashed = hashlib.sha256(b"vendor-read\x00")
    for part in (read.vendor.value, read.plate, read.country, read.direction.value):
        hashed.update(part.encode() + b"\x00")
    hashed.update(hashlib.sha256(read.crop).digest())
    hashed.update(hashlib.sha256(read.overview).digest())
    return hashed.hexdigest()


def worth_publishing(state: TrackState | None, track_reported: bool) -> bool:
    """Axis's LOST repeats the vehicle's last reading ten seconds after it: published only when none
    of the vehicle's reads reached us (a camera set to send LOST alone), since ten seconds later it
    would be a passage of its own (detect's window). NEW and UPDATE always are: each is a reading."""
    return state is not TrackState.LOST or not track_reported


def box_within(
    box: tuple[int, int, int, int] | None, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """The plate's box where it lies within the overview (pixels); a box on another grid is dropped."""
    if box is None or width <= 0 or height <= 0:
        return None
    x1, y1, x2, y2 = box
    return box if x2 <= width and y2 <= height else None
