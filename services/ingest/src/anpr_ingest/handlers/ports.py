"""What the handlers need of the outside world, as protocols: the adapters (anpr_ingest.adapters)
satisfy them, and bootstrap.py hands them in, so a test can hand in fakes instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from anpr_core.auth import Principal
from anpr_ingest.domain.camera_auth import DigestSecrets
from anpr_ingest.domain.cameras import Camera
from anpr_ingest.domain.images import ImageInfo
from anpr_ingest.domain.intake import Intake
from anpr_ingest.domain.vendors.mapping import CameraRead


class CameraStore(Protocol):
    """The camera register (adapters.camera_register.CameraRegister)."""

    async def get(self, camera_id: str) -> Camera | None: ...

    async def list(self) -> list[Camera]: ...

    async def add(self, camera: Camera) -> bool: ...

    async def save(self, camera: Camera) -> None: ...

    async def set_key(self, camera_id: str, secrets: DigestSecrets) -> None: ...


class CameraAnnouncer(Protocol):
    """The register's feed (adapters.camera_feed.CameraFeed): each camera's entry on the cameras
    topic; raises BusUnavailable when the broker does not take it."""

    async def announce(self, cameras: Sequence[Camera]) -> None: ...


class CameraLookup(Protocol):
    """The per-replica camera cache (adapters.camera_cache.CameraCache); `get` raises
    RegisterUnavailable when the register does not answer."""

    async def get(self, camera_id: str) -> Camera | None: ...

    def evict(self, camera_id: str) -> None: ...


class LastSeenWriter(Protocol):
    """Writes a camera's last-seen time (adapters.last_seen.LastSeenWriter); raises
    RegisterUnavailable when the write was due and the register did not answer."""

    async def write(self, camera_id: str, seen_at: datetime) -> None: ...


class IntakePublisher(Protocol):
    """Publish-once (adapters.publish_once.IntakeBatcher): None once Kafka holds the intake, or the
    event id of the one it held already; raises BusUnavailable or DedupeUnavailable."""

    async def submit(self, intake: Intake) -> str | None: ...


class IntakeForgetter(Protocol):
    """The dedupe table (adapters.dedupe.IntakeDedupe), for its window."""

    async def forget_before(self, cutoff: datetime) -> int: ...


class ImageVerifier(Protocol):
    """The image decoding pool (adapters.images.ImageChecker); raises RejectedFrame."""

    async def verify(self, data: bytes, info: ImageInfo, what: str = "image") -> None: ...


class IntakeCodec(Protocol):
    """What a frame or a camera-side read is on the wire (adapters.codecs.IntakeEvents)."""

    def frame(
        self,
        camera: Camera,
        captured_at: datetime,
        info: ImageInfo,
        digest: str,
        event_id: str,
        image: bytes,
        now: datetime,
    ) -> Intake: ...

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
    ) -> Intake: ...

    def vendor_read(
        self, camera: Camera, read: CameraRead, digest: str, event_id: str, now: datetime
    ) -> Intake: ...


class TrackStore(Protocol):
    """The vehicles vendor cameras track (adapters.vendor_tracks.VendorTracks); raises
    RegisterUnavailable when it does not answer."""

    async def reported(self, camera_id: str, track: str, since: datetime) -> bool: ...

    async def record(self, camera_id: str, track: str, at: datetime) -> None: ...


class TrackForgetter(Protocol):
    async def forget_before(self, cutoff: datetime) -> int: ...


class DeadLetterSink(Protocol):
    """Where pushes that cannot be taken are kept (adapters.dead_letters.VendorDeadLetters); raises
    BusUnavailable when the broker does not take it."""

    async def keep(
        self, camera_id: str, vendor: str, body: bytes, content_type: str, reason: str
    ) -> None: ...


class AuditRecorder(Protocol):
    """The audit trail (anpr_core.auditing.AuditTrail)."""

    async def record(self, actor: Principal | None, action: str, **fields: Any) -> object: ...
