"""The camera register's commands: register, change, rotate or revoke a key, list, the public map,
and the silence check. Each takes its ports and returns domain records or raises domain refusals."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from anpr_core.auth import Principal
from anpr_core.bus import BusUnavailable
from anpr_core.events import utcnow
from anpr_core.metrics import CAMERA_SILENT
from anpr_ingest.domain.camera_auth import DigestSecrets, secrets_of
from anpr_ingest.domain.cameras import (
    REQUIRED_FIELDS,
    Camera,
    CameraStatus,
    check_border,
    check_feed,
    check_status_change,
    is_silent,
    new_api_key,
    time_zone_of,
)
from anpr_ingest.domain.errors import CameraExists, CameraNotFound, InvalidCameraChange
from anpr_ingest.domain.public_map import MapCamera
from anpr_ingest.handlers.ports import AuditRecorder, CameraAnnouncer, CameraLookup, CameraStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraPorts:
    register: CameraStore
    cache: CameraLookup  # this replica's cache, evicted on every change of a key or a record
    audit: AuditRecorder
    zone_id: str  # a camera registered without a zone is this zone's
    silent_gap: timedelta
    feed: CameraAnnouncer  # each camera's entry on the cameras topic, for the services that need it


async def get_camera(ports: CameraPorts, camera_id: str) -> Camera:
    camera = await ports.register.get(camera_id)
    if camera is None:
        raise CameraNotFound(camera_id)
    return camera


async def register_camera(
    ports: CameraPorts,
    principal: Principal,
    camera_id: str,
    fields: dict[str, Any],
    as_sent: dict[str, Any],
) -> tuple[Camera, str]:
    """Registers a camera with the register's `fields`; returns it and its key, which only this
    answer shows (only its hash is stored). `as_sent` is the request, for the audit."""
    api_key = new_api_key()
    secrets = secrets_of(camera_id, api_key)
    now = utcnow()
    camera = Camera(
        camera_id=camera_id,
        status=CameraStatus.ACTIVE.value,
        api_key_hash=secrets.api_key_hash,
        digest_ha1_md5=secrets.ha1_md5,
        digest_ha1_sha256=secrets.ha1_sha256,
        created_at=now,
        last_seen_at=None,
        **{**fields, "zone_id": fields.get("zone_id") or ports.zone_id},
    )
    check_feed(camera.kind, camera.vendor)
    time_zone_of(camera.time_zone)
    if not await ports.register.add(camera):
        raise CameraExists(camera_id)
    await ports.feed.announce([camera])
    await ports.audit.record(
        principal, "camera_change", query={"op": "register", **as_sent}, record_ids=[camera_id]
    )
    return camera, api_key


async def update_camera(
    ports: CameraPorts,
    principal: Principal,
    camera_id: str,
    changes: dict[str, Any],
    as_sent: dict[str, Any],
) -> Camera:
    """Changes the fields in `changes` (register fields; None clears one, a zone of None is the
    camera's own). `as_sent` is the request, for the audit."""
    camera = await get_camera(ports, camera_id)
    for required in REQUIRED_FIELDS:
        if required in changes and changes[required] is None:
            raise InvalidCameraChange(f"{required} cannot be cleared; send a value")
    if "status" in changes:
        check_status_change(CameraStatus(camera.status), CameraStatus(changes["status"]))
    if "zone_id" in changes:
        changes = {**changes, "zone_id": changes["zone_id"] or camera.zone_id}
    updated = camera.changed(**changes, updated_at=utcnow())
    check_border(updated.border_camera, updated.neighbour_zone_id)
    check_feed(updated.kind, updated.vendor)
    time_zone_of(updated.time_zone)
    await ports.register.save(updated)
    ports.cache.evict(camera_id)
    await ports.feed.announce([updated])
    await ports.audit.record(
        principal, "camera_change", query={"op": "update", **as_sent}, record_ids=[camera_id]
    )
    return updated


async def rotate_key(ports: CameraPorts, principal: Principal, camera_id: str) -> tuple[Camera, str]:
    """A new key for the camera, shown once; the old one stops working at once on this replica and
    within the cache's TTL on the others."""
    camera = await get_camera(ports, camera_id)
    api_key = new_api_key()
    secrets = secrets_of(camera_id, api_key)
    await ports.register.set_key(camera_id, secrets)
    ports.cache.evict(camera_id)
    await ports.audit.record(principal, "camera_change", query={"op": "rotate_key"}, record_ids=[camera_id])
    changed = camera.changed(
        api_key_hash=secrets.api_key_hash,
        digest_ha1_md5=secrets.ha1_md5,
        digest_ha1_sha256=secrets.ha1_sha256,
    )
    return changed, api_key


async def revoke_key(ports: CameraPorts, principal: Principal, camera_id: str) -> None:
    """The camera has no valid key until one is rotated in."""
    await get_camera(ports, camera_id)
    await ports.register.set_key(camera_id, DigestSecrets.revoked())
    ports.cache.evict(camera_id)
    await ports.audit.record(principal, "camera_change", query={"op": "revoke_key"}, record_ids=[camera_id])


async def announce_register(register: CameraStore, feed: CameraAnnouncer) -> int:
    """Every camera's entry on the cameras topic again (at start, then now and then): an entry a
    change could not publish (the broker away after the register took it) is published late, not
    never. Returns how many were announced; 0 while the broker is away (the next round retries)."""
    cameras = await register.list()
    try:
        await feed.announce(cameras)
    except BusUnavailable:
        log.warning("the camera register could not be announced; retrying at the next round")
        return 0
    return len(cameras)


async def list_cameras(ports: CameraPorts) -> list[Camera]:
    return await ports.register.list()


async def public_map(ports: CameraPorts) -> list[MapCamera]:
    """The public camera map: cameras in service with a position; see domain.public_map for what
    is left out."""
    return [
        MapCamera(
            camera_id=c.camera_id,
            name=c.name,
            road=c.road,
            direction=c.direction,
            latitude=c.latitude,
            longitude=c.longitude,
            sign_latitude=c.sign_latitude,
            sign_longitude=c.sign_longitude,
            sign_description=c.sign_description,
        )
        for c in await ports.register.list()
        if c.status != CameraStatus.RETIRED.value and c.latitude is not None and c.longitude is not None
    ]


async def check_silent_cameras(
    register: CameraStore, gap: timedelta, now: datetime | None = None
) -> dict[str, bool]:
    """Marks active cameras silent after `gap` without a frame, read or heartbeat (the gauge
    anpr_camera_silent); returns each camera's state, retired cameras left out."""
    now = now or datetime.now(UTC)
    states: dict[str, bool] = {}
    for camera in await register.list():
        if camera.status == CameraStatus.RETIRED.value:
            with contextlib.suppress(KeyError):
                CAMERA_SILENT.remove(camera.camera_id)
            continue
        silent = is_silent(CameraStatus(camera.status), camera.last_seen_at, camera.created_at, now, gap)
        CAMERA_SILENT.labels(camera.camera_id).set(1 if silent else 0)
        states[camera.camera_id] = silent
    return states
