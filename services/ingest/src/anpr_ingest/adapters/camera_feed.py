"""The camera register's feed: each camera's entry (CameraEntry: status, border camera and its
neighbour zone) on the compacted anpr.cameras.v1, keyed by camera id, for the services that act on
the register without owning it (share: which cameras an agreement's "all border cameras" covers)."""

from __future__ import annotations

from collections.abc import Sequence

from anpr.v1 import camera_pb2
from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.events import new_meta
from anpr_ingest.domain.cameras import Camera


class CameraFeed:
    def __init__(self, bus: Bus, topic: str, zone_id: str) -> None:
        self._bus = bus
        self._topic = topic
        self._zone_id = zone_id

    def _record(self, camera: Camera) -> OutgoingRecord:
        entry = camera_pb2.CameraEntry(
            meta=new_meta(self._zone_id, "ingest"),
            camera_id=camera.camera_id,
            status=camera.status,
            border_camera=camera.border_camera,
            neighbour_zone_id=camera.neighbour_zone_id or "",
        )
        return OutgoingRecord(self._topic, camera.camera_id.encode(), entry.SerializeToString())

    async def announce(self, cameras: Sequence[Camera]) -> None:
        """Returns once the broker holds every entry; raises BusUnavailable otherwise."""
        if cameras:
            await self._bus.publish_many([self._record(camera) for camera in cameras])
