"""The camera side: a frame, a camera-side read, a heartbeat. Each checks the camera and what it
sent, publishes it once, and returns what was accepted, or raises a domain refusal.

The stages of a frame are timed (anpr_ingest.timing), so an operator and the bench can tell where
its time goes; this is the hot path of the service, hundreds of frames a second.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from anpr_core.bus import BusUnavailable
from anpr_core.metrics import (
    CAMERA_CLOCK_SKEW,
    CAMERA_LAST_SEEN,
    CAMERA_READS_RECEIVED,
    FRAMES_RECEIVED,
    FRAMES_REJECTED,
    INTAKE_DUPLICATES,
    READS,
)
from anpr_ingest import timing
from anpr_ingest.domain.cameras import Camera, CameraKind, CameraStatus, key_matches
from anpr_ingest.domain.errors import (
    CameraRefused,
    CameraRetired,
    DedupeUnavailable,
    NoCameraKey,
    NotASmartCamera,
    RegisterUnavailable,
    RejectedFrame,
    Unavailable,
    UnknownCamera,
    WrongCameraKey,
)
from anpr_ingest.domain.event_ids import intake_event_id
from anpr_ingest.domain.intake import (
    CropLimits,
    FrameLimits,
    Intake,
    check_crop,
    check_frame,
    check_read,
    clock_skew_seconds,
    frame_digest,
    read_digest,
)
from anpr_ingest.handlers.ports import (
    CameraLookup,
    ImageVerifier,
    IntakeCodec,
    IntakeForgetter,
    IntakePublisher,
    LastSeenWriter,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakePorts:
    limits: FrameLimits
    crop_limits: CropLimits
    zone_id: str  # the zone in every event id
    cameras: CameraLookup
    last_seen: LastSeenWriter
    images: ImageVerifier
    codec: IntakeCodec
    publisher: IntakePublisher


@dataclass(frozen=True, slots=True)
class AcceptedFrame:
    event_id: str  # a duplicate's is the first event id, under which Kafka holds it
    camera_id: str
    content_type: str
    width: int
    height: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class AcceptedRead:
    event_id: str
    camera_id: str
    plate: str
    duplicate: bool


async def accept_frame(
    ports: IntakePorts,
    camera_id: str,
    captured_at: datetime,
    data: bytes,
    camera_key: str | None,
    began: float,
) -> AcceptedFrame:
    """A frame and its fields, received since `began` (time.perf_counter): checks, dedupe, publish."""
    received = time.perf_counter()
    timing.BODY.observe(received - began)
    camera = await authenticate(ports, camera_id, camera_key)
    checked = time.perf_counter()
    timing.CREDENTIALS.observe(checked - received)
    now = datetime.now(UTC)
    observe_skew(camera.camera_id, captured_at, now)
    try:
        info = check_frame(data, captured_at, now, ports.limits)
        headed = time.perf_counter()
        timing.IMAGE_CHECK.observe(headed - checked)
        await ports.images.verify(data, info)
    except RejectedFrame as rejection:
        FRAMES_REJECTED.labels(rejection.reason).inc()
        raise
    sniffed = time.perf_counter()
    timing.IMAGE_DECODE.observe(sniffed - headed)
    digest = frame_digest(data)
    hashed = time.perf_counter()
    timing.DIGEST.observe(hashed - sniffed)
    event_id = intake_event_id(ports.zone_id, camera.camera_id, captured_at, digest)
    intake = ports.codec.frame(camera, captured_at, info, digest, event_id, data, now)
    built = time.perf_counter()
    timing.EVENT.observe(built - hashed)
    original = await publish_once(ports, intake)
    timing.WAIT.observe(time.perf_counter() - built)
    if original is not None:
        INTAKE_DUPLICATES.labels("frame").inc()
    else:
        FRAMES_RECEIVED.labels(camera.camera_id).inc()
    await record_seen(ports, camera.camera_id, now)
    accepted = AcceptedFrame(
        event_id=original or event_id,
        camera_id=camera.camera_id,
        content_type=info.content_type,
        width=info.width,
        height=info.height,
        duplicate=original is not None,
    )
    timing.HANDLER.observe(time.perf_counter() - began)
    return accepted


async def accept_read(
    ports: IntakePorts,
    camera_id: str,
    captured_at: datetime,
    text: str,
    confidence: float,
    crop: bytes | None,
    camera_key: str | None,
) -> AcceptedRead:
    """A smart camera's own read of a plate, with its crop if it sent one: checks, dedupe, publish."""
    camera = await authenticate(ports, camera_id, camera_key)
    if camera.kind != CameraKind.SMART.value:
        raise counted(NotASmartCamera(camera_id))
    now = datetime.now(UTC)
    observe_skew(camera.camera_id, captured_at, now)
    crop_bytes = b""
    try:
        plate = check_read(text, confidence, captured_at, now, ports.limits.max_clock_skew)
        if crop is not None:
            crop_bytes = crop
            await ports.images.verify(crop_bytes, check_crop(crop_bytes, ports.crop_limits), "crop")
    except RejectedFrame as rejection:
        FRAMES_REJECTED.labels(rejection.reason).inc()
        raise
    digest = read_digest(plate, crop_bytes)
    event_id = intake_event_id(ports.zone_id, camera.camera_id, captured_at, digest)
    intake = ports.codec.read(camera, captured_at, plate, confidence, crop_bytes, digest, event_id, now)
    original = await publish_once(ports, intake)
    if original is not None:
        INTAKE_DUPLICATES.labels("read").inc()
    else:
        CAMERA_READS_RECEIVED.labels(camera.camera_id).inc()
        READS.labels("camera", camera.camera_id).inc()
    await record_seen(ports, camera.camera_id, now)
    return AcceptedRead(
        event_id=original or event_id,
        camera_id=camera.camera_id,
        plate=plate,
        duplicate=original is not None,
    )


async def heartbeat(ports: IntakePorts, camera_id: str, camera_key: str | None) -> None:
    """A camera with nothing to send says it is alive; it is not marked silent."""
    camera = await authenticate(ports, camera_id, camera_key)
    await record_seen(ports, camera.camera_id, datetime.now(UTC), required=True)


async def authenticate(ports: IntakePorts, camera_id: str, key: str | None) -> Camera:
    """The camera, if `key` is its current key and it is not retired."""
    if not key:
        raise counted(NoCameraKey())
    try:
        camera = await ports.cameras.get(camera_id)
    except RegisterUnavailable as error:
        FRAMES_REJECTED.labels("register_unavailable").inc()
        raise Unavailable("the camera register did not answer, so nothing was stored") from error
    if camera is None:
        raise counted(UnknownCamera(camera_id))
    if not key_matches(key, camera.api_key_hash):
        raise counted(WrongCameraKey(camera_id))
    if camera.status == CameraStatus.RETIRED.value:
        raise counted(CameraRetired(camera_id))
    return camera


async def forget_old_intake(dedupe: IntakeForgetter, window: timedelta) -> int:
    """Drops the dedupe entries older than the window: a resend after it is published again."""
    return await dedupe.forget_before(datetime.now(UTC) - window)


def counted(refusal: CameraRefused) -> CameraRefused:
    FRAMES_REJECTED.labels(refusal.reason).inc()
    return refusal


def observe_skew(camera_id: str, captured_at: datetime, now: datetime) -> None:
    if captured_at.tzinfo is not None:
        CAMERA_CLOCK_SKEW.labels(camera_id).set(clock_skew_seconds(captured_at, now))


async def record_seen(ports: IntakePorts, camera_id: str, now: datetime, *, required: bool = False) -> None:
    """Records that the camera reported. `required` (a heartbeat, which is nothing else): a
    register that does not answer is a refusal (503); after a frame or read, only a logged warning."""
    CAMERA_LAST_SEEN.labels(camera_id).set(now.timestamp())
    try:
        await ports.last_seen.write(camera_id, now)
    except RegisterUnavailable as error:
        if required:
            raise Unavailable("the register did not answer; the heartbeat is not recorded") from error
        log.warning("could not record last-seen of camera %s", camera_id, exc_info=True)


async def publish_once(ports: IntakePorts, intake: Intake) -> str | None:
    """Publishes unless Kafka holds it already; returns the original event id of a duplicate.

    The batcher claims (camera, captured_at, digest) in the dedupe table, publishes, waits for the
    broker's acknowledgement (acks=all) and commits the claim, together with the intakes that
    arrived at the same time (anpr_ingest.adapters.publish_once). A publish without an
    acknowledgement keeps its claim, unconfirmed: the camera's resend is published again under
    the same event id (derived from the content), so whichever copies reach Kafka, the sinks
    keep one.
    """
    try:
        return await ports.publisher.submit(intake)
    except BusUnavailable as error:
        FRAMES_REJECTED.labels("bus_unavailable").inc()
        raise Unavailable(
            "the broker did not acknowledge it in time, so it may or may not be stored; send it "
            "again after Retry-After: the resend is the same event (same event_id) and is stored once",
            event_id=intake.entry.event_id,
            stored="unknown",
        ) from error
    except DedupeUnavailable as error:
        FRAMES_REJECTED.labels("dedupe_unavailable").inc()
        raise Unavailable(
            "the intake database did not answer, so nothing was stored; send it again after Retry-After",
            event_id=intake.entry.event_id,
            stored="no",
        ) from error
