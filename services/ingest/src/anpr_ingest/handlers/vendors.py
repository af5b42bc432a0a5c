"""A vendor camera's push: who sends it (handlers.camera_auth), what it holds (the vendor's parser),
each read mapped and checked like the platform's own camera reads (plate, confidence, clock skew, its
images decoded in the same pool), then published once under an event id derived from its content, so
a resend is the same event. What cannot be read is kept as a dead letter with its raw bytes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from anpr_core.bus import BusUnavailable
from anpr_core.metrics import CAMERA_READS_RECEIVED, FRAMES_REJECTED, INTAKE_DUPLICATES, READS
from anpr_ingest.domain.cameras import Camera, Direction, time_zone_of
from anpr_ingest.domain.errors import RegisterUnavailable, RejectedFrame, Unavailable
from anpr_ingest.domain.event_ids import intake_event_id
from anpr_ingest.domain.intake import check_crop, check_overview
from anpr_ingest.domain.vendors import PARSERS, MalformedPayload, PayloadLimits, Vendor, VendorPush
from anpr_ingest.domain.vendors.dahua import parse_keep_alive
from anpr_ingest.domain.vendors.mapping import (
    TRACK_MEMORY,
    CameraRead,
    box_within,
    camera_read,
    vendor_read_digest,
    worth_publishing,
)
from anpr_ingest.domain.vendors.model import TrackState
from anpr_ingest.domain.vendors.times import localised
from anpr_ingest.handlers.camera_auth import Challenger, WhoSends, authenticate_vendor_camera
from anpr_ingest.handlers.intake import AcceptedRead, IntakePorts, observe_skew, publish_once, record_seen
from anpr_ingest.handlers.ports import DeadLetterSink, TrackForgetter, TrackStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VendorPorts:
    intake: IntakePorts
    tracks: TrackStore
    dead_letters: DeadLetterSink
    limits: PayloadLimits
    challenger: Challenger
    max_body_bytes: int  # a whole push, images in base64 included


@dataclass(frozen=True)
class PushRequest:
    who: WhoSends
    body: bytes
    content_type: str
    keep_alive: bool = False  # Dahua's /NotificationInfo/KeepAlive


@dataclass(frozen=True)
class PushTaken:
    camera_id: str
    reads: tuple[AcceptedRead, ...]
    skipped: int  # reads not published: a tracked vehicle's LOST repeating what was published
    note: str


async def who_sends(ports: VendorPorts, who: WhoSends) -> Camera:
    """The registered camera the push comes from, before its body is read (CameraRefused if none)."""
    return await authenticate_vendor_camera(ports.intake.cameras, ports.challenger, who)


async def accept_push(ports: VendorPorts, camera: Camera, request: PushRequest) -> PushTaken:
    """The push of `camera` (authenticated by who_sends): parsed, checked, published once."""
    now = datetime.now(UTC)
    try:
        push = _parsed(ports, request)
        mapped = _mapped(ports, camera, request.who.vendor, push, now)
        checked = [await _checked(ports, read) for read in mapped]
    except (MalformedPayload, RejectedFrame) as refusal:
        FRAMES_REJECTED.labels(refusal.reason).inc()
        await _keep(ports, camera, request, refusal)
        raise
    accepted: list[AcceptedRead] = []
    skipped = 0
    for read in checked:
        if not worth_publishing(read.state, await _reported(ports, camera, read, now)):
            skipped += 1
            continue
        accepted.append(await _publish(ports, camera, read, now))
    await record_seen(ports.intake, camera.camera_id, now, required=request.keep_alive)
    return PushTaken(camera.camera_id, tuple(accepted), skipped, push.note)


def _parsed(ports: VendorPorts, request: PushRequest) -> VendorPush:
    if request.keep_alive:
        return parse_keep_alive(request.body)
    return PARSERS[request.who.vendor](request.body, request.content_type, ports.limits)


def _mapped(
    ports: VendorPorts, camera: Camera, vendor: Vendor, push: VendorPush, now: datetime
) -> list[CameraRead]:
    zone = time_zone_of(camera.time_zone)
    skew = ports.intake.limits.max_clock_skew
    mapped = []
    for read in push.reads:
        # The skew is seen before it is judged, as for the platform's own cameras.
        observe_skew(camera.camera_id, localised(read.captured_at, zone), now)
        mapped.append(camera_read(vendor, read, Direction(camera.direction), zone, now, skew))
    return mapped


async def _checked(ports: VendorPorts, read: CameraRead) -> CameraRead:
    """The read with its images decoded in the pool (RejectedFrame if corrupt), and its box kept only
    where it lies within the overview."""
    images = ports.intake.images
    if read.crop:
        await images.verify(read.crop, check_crop(read.crop, ports.intake.crop_limits), "crop")
    if not read.overview:
        return replace(read, box=None)
    info = check_overview(read.overview, ports.intake.limits)
    await images.verify(read.overview, info, "overview")
    return replace(read, box=box_within(read.box, info.width, info.height))


async def _reported(ports: VendorPorts, camera: Camera, read: CameraRead, now: datetime) -> bool:
    if not read.track or read.state is not TrackState.LOST:
        return False
    try:
        return await ports.tracks.reported(camera.camera_id, read.track, now - TRACK_MEMORY)
    except RegisterUnavailable:
        # Unknown: publish it. At worst the vehicle is two passages; never a read lost.
        log.warning("vendor tracks unavailable; camera %s's LOST event is published", camera.camera_id)
        return False


async def _publish(ports: VendorPorts, camera: Camera, read: CameraRead, now: datetime) -> AcceptedRead:
    intake = ports.intake
    digest = vendor_read_digest(read)
    event_id = intake_event_id(intake.zone_id, camera.camera_id, read.captured_at, digest)
    original = await publish_once(intake, intake.codec.vendor_read(camera, read, digest, event_id, now))
    if original is not None:
        INTAKE_DUPLICATES.labels("read").inc()
    else:
        CAMERA_READS_RECEIVED.labels(camera.camera_id).inc()
        READS.labels("camera", camera.camera_id).inc()
    if read.track:
        try:
            await ports.tracks.record(camera.camera_id, read.track, now)
        except RegisterUnavailable:
            log.warning(
                "vendor tracks unavailable; camera %s's next LOST event will be published", camera.camera_id
            )
    return AcceptedRead(
        event_id=original or event_id,
        camera_id=camera.camera_id,
        plate=read.plate,
        duplicate=original is not None,
    )


async def _keep(
    ports: VendorPorts, camera: Camera, request: PushRequest, refusal: MalformedPayload | RejectedFrame
) -> None:
    """The refused push, raw, on the dead-letter topic for the operator; if the broker does not take
    it, the camera is told to send it again (503) rather than have it dropped unseen."""
    reason = f"{request.who.vendor.value} push refused ({refusal.reason}): {refusal}"
    try:
        await ports.dead_letters.keep(
            camera.camera_id, request.who.vendor.value, request.body, request.content_type, reason
        )
    except BusUnavailable as error:
        raise Unavailable(
            f"the push is refused ({refusal}) and could not be kept for the operator: the broker did "
            "not answer; send it again after Retry-After",
            stored="no",
        ) from error


async def forget_old_tracks(tracks: TrackForgetter, memory: timedelta) -> int:
    """Drops the vehicles no read of which was published for `memory`."""
    return await tracks.forget_before(datetime.now(UTC) - memory)
