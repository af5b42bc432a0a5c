"""The sample camera of the embedded mode: registers itself, hotlists a plate, replays bundled frames.

Frames go through ingest's real REST endpoint, so a newcomer sees the whole pipeline work:
frame in, read, passage, hit, audit rows. Reads, passages and hits are printed to the console as
they happen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TextIO

import httpx

from anpr.v1 import hit_pb2, passage_pb2, read_pb2
from anpr_audit.adapters.audit_log import AuditLog
from anpr_core.auth import Role
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker
from anpr_core.events import Topics, from_timestamp
from anpr_core.ids import new_event_id
from anpr_detect.settings import DetectSettings
from anpr_detect_training.synthetic import SampleFrame, sample_frames
from schild.embedded import EmbeddedPlatform
from schild.sample_sharing import SharingWatcher, agree_with_neighbour

DEMO_CAMERA = "demo-cam-01"
DEMO_LIST = "demo-stolen"


@dataclass
class DemoSummary:
    frames: int = 0
    accepted: int = 0
    reads: int = 0
    passages: int = 0
    hits: int = 0
    shared: int = 0  # reads shared with the neighbour zone
    audit_rows: int = 0
    plates: list[str] = field(default_factory=list)
    hit_plates: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


class ConsoleWatcher:
    """Prints reads, passages and hits as they come off the bus (stdout, for the person at the terminal)."""

    def __init__(self, platform: EmbeddedPlatform, summary: DemoSummary, out: TextIO) -> None:
        topics = Topics()
        self._summary = summary
        self._out = out
        self._topics = topics
        self._passages_read: set[str] = set()  # passage ids the reads named
        self._passages_seen: set[str] = set()
        self._passages_all_seen = asyncio.Event()
        self._passages_all_seen.set()
        self.worker = ConsumerWorker(
            platform.bus,
            topics=[topics.reads, topics.passages, topics.hits],
            group_id=f"console-{new_event_id()}",
            handler=self._show,
            dlq_topic=topics.dlq,
            service="console",
            zone_id="",
        )

    async def passages_out(self, timeout_s: float) -> None:
        """Waits (at most `timeout_s`) until every passage a read named has been shown."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._passages_all_seen.wait(), timeout_s)

    async def _show(self, record: Record) -> None:
        if record.topic == self._topics.passages:
            passage = passage_pb2.Passage()
            passage.ParseFromString(record.value)
            self._summary.passages += 1
            self._passages_seen.add(passage.passage_id)
            when = from_timestamp(passage.first_seen).strftime("%H:%M:%S")
            self._out.write(
                f"PASS  {when} {passage.camera_id:<12} {passage.formatted or passage.plate:<12} "
                f"{passage.country or '??':<2} conf={passage.confidence:.2f} reads={len(passage.read_ids)}\n"
            )
        elif record.topic == self._topics.reads:
            read = read_pb2.PlateRead()
            read.ParseFromString(record.value)
            if read.passage_id:
                self._passages_read.add(read.passage_id)
            self._summary.reads += 1
            self._summary.plates.append(read.plate)
            when = from_timestamp(read.captured_at).strftime("%H:%M:%S")
            self._out.write(
                f"READ  {when} {read.camera_id:<12} {read.formatted or read.plate:<12} "
                f"{read.country or '??':<2} conf={read.confidence:.2f}\n"
            )
        else:
            hit = hit_pb2.Hit()
            hit.ParseFromString(record.value)
            self._summary.hits += 1
            self._summary.hit_plates.append(hit.plate_listed)
            kind = hit_pb2.MatchKind.Name(hit.match_kind).removeprefix("MATCH_KIND_").lower()
            whose = f" (zone {hit.source_zone}'s list)" if hit.source_zone else ""
            self._out.write(
                f"HIT   {hit.plate_listed:<12} list={hit.list_name} category={hit.category} "
                f"match={kind} action={hit.action}{whose}\n"
            )
        if self._passages_read <= self._passages_seen:
            self._passages_all_seen.set()
        else:
            self._passages_all_seen.clear()
        self._out.flush()


async def _camera_key(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    response = await client.post(
        "/ingest/v1/cameras",
        json={"camera_id": DEMO_CAMERA, "name": "Demo camera, zone entrance", "direction": "in"},
        headers=admin,
    )
    if response.status_code == 409:
        # Registered on an earlier run; only the key's hash is kept, so rotate to get a key.
        response = await client.post(f"/ingest/v1/cameras/{DEMO_CAMERA}/key", headers=admin)
    response.raise_for_status()
    key: str = response.json()["api_key"]
    return key


async def _hotlist(client: httpx.AsyncClient, supervisor: dict[str, str], plate: str) -> None:
    # Entries belong to a list, which carries the matching rules; 409: made on an earlier run.
    made = await client.post(
        "/match/v1/lists", json={"name": DEMO_LIST, "category": "stolen_vehicle"}, headers=supervisor
    )
    if made.status_code != 409:
        made.raise_for_status()
    existing = await client.get(
        "/match/v1/hotlist", params={"plate": plate, "list_name": DEMO_LIST}, headers=supervisor
    )
    existing.raise_for_status()
    entries = existing.json()
    if not entries:
        created = await client.post(
            "/match/v1/hotlist",
            json={
                "plate": plate,
                "list_name": DEMO_LIST,
                "category": "stolen_vehicle",
                "priority": 1,
                "action": "stop and check",
                "reason": "demo: reported stolen",
                "case_reference": "DEMO-PV-0001",
            },
            headers=supervisor,
        )
        created.raise_for_status()
        entries = [created.json()]
    # Matching uses the in-memory index, fed from the hotlist topic: wait until it holds the entry.
    for _ in range(100):
        probe = await client.get(f"/match/v1/hotlist/{entries[0]['entry_id']}", headers=supervisor)
        if probe.json().get("indexed"):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the hotlist entry did not reach the matching index")


async def replay_sample(
    platform: EmbeddedPlatform, out: TextIO, frames: list[SampleFrame] | None = None
) -> DemoSummary:
    frames = frames if frames is not None else sample_frames()
    summary = DemoSummary(frames=len(frames))
    watcher = ConsoleWatcher(platform, summary, out)
    watcher.worker.start()
    partner = platform.partner
    sharing = None
    if partner is not None and len(frames) > 1:

        def shared() -> None:
            summary.shared += 1

        zone_id = platform.zone_id
        sharing = SharingWatcher(platform.exchange, zone_id, partner.zone_id, out, shared)
        sharing.worker.start()
    admin = {"Authorization": f"Bearer {platform.issuer.issue('demo-admin', Role.ADMIN)}"}
    supervisor = {"Authorization": f"Bearer {platform.issuer.issue('demo-supervisor', Role.SUPERVISOR)}"}
    transport = httpx.ASGITransport(app=platform.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://schild.embedded") as client:
            key = await _camera_key(client, admin)
            await _hotlist(client, supervisor, frames[0].plate)
            out.write(f"camera {DEMO_CAMERA} replays {len(frames)} frames; {frames[0].plate} is hotlisted\n")
            if sharing is not None and partner is not None:
                listed = await agree_with_neighbour(
                    client, platform.issuer, zone_id, partner.zone_id, DEMO_CAMERA, frames[1].plate
                )
                out.write(
                    f"zone {partner.zone_id} (beside this one) takes {DEMO_CAMERA}'s reads under an "
                    f"agreement and shares its list: {frames[1].plate} is on {listed} here\n"
                )
            for index, frame in enumerate(frames):
                response = await client.post(
                    "/ingest/v1/frames",
                    data={"camera_id": DEMO_CAMERA, "captured_at": datetime.now(UTC).isoformat()},
                    files={"image": (f"frame-{index}.jpg", frame.image, "image/jpeg")},
                    headers={"X-Camera-Key": key},
                )
                if response.status_code == 202:
                    summary.accepted += 1
                else:
                    out.write(f"frame {index} refused: {response.status_code} {response.text}\n")
        await platform.wait_until_idle()
        # A passage is published once no read joined it for the window: wait for the last ones.
        await watcher.passages_out(DetectSettings().passage_window_s + 2.0)
    finally:
        await watcher.worker.stop()
        if sharing is not None:
            await sharing.worker.stop()
    summary.audit_rows = await AuditLog(platform.engines["audit"]).count()
    return summary
