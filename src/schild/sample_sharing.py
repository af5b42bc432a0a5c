"""The sample's sharing with the neighbour zone running beside the embedded platform: an agreement
on each side (this zone shares the demo camera's reads, minimised, and takes the neighbour's
hotlists; the neighbour takes the reads and shares its stolen-vehicle list), a plate the neighbour
hotlists, and each read shared printed as it crosses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TextIO

import httpx

from anpr.v1 import read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus, Record
from anpr_core.consume import ConsumerWorker
from anpr_core.events import Topics, from_timestamp
from anpr_core.ids import new_event_id
from anpr_share.domain.zone_topics import ZoneTopics

AGREEMENT = "AGR-DEMO-{zone}"
NEIGHBOUR_LIST = "wanted"


def _auth(issuer: DevIssuer, role: Role, zone_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.issue(f'demo-{role.value}', role, zone_id)}"}


async def _agreement(
    client: httpx.AsyncClient, prefix: str, headers: dict[str, str], body: dict[str, Any]
) -> None:
    """The agreement with the neighbour, made on the first run (one per neighbour at a time)."""
    partner = body["partner_zone_id"]
    listed = await client.get(
        f"{prefix}/v1/agreements", params={"status": "active", "partner_zone_id": partner}, headers=headers
    )
    listed.raise_for_status()
    if not listed.json():
        made = await client.post(f"{prefix}/v1/agreements", json=body, headers=headers)
        made.raise_for_status()


async def agree_with_neighbour(
    client: httpx.AsyncClient, issuer: DevIssuer, zone_id: str, neighbour: str, camera_id: str, plate: str
) -> str:
    """Both agreements, and `plate` on the neighbour's list; returns the list's name here once this
    zone's matching holds the neighbour's entry."""
    basis = "art. 44/11/3septies WPA (demo)"
    await _agreement(
        client,
        "/share",
        _auth(issuer, Role.ADMIN, zone_id),
        {
            "partner_zone_id": neighbour,
            "reference": AGREEMENT.format(zone=neighbour),
            "legal_basis": basis,
            "reads": {
                "camera_ids": [camera_id],
                "fields": ["plate", "time", "camera", "direction", "confidence"],
            },
            "inbound": {"hotlists": True},
        },
    )
    there = f"/partner/{neighbour}"
    await _agreement(
        client,
        f"{there}/share",
        _auth(issuer, Role.ADMIN, neighbour),
        {
            "partner_zone_id": zone_id,
            "reference": AGREEMENT.format(zone=neighbour),
            "legal_basis": basis,
            "hotlists": {"categories": ["stolen_vehicle"]},
            "inbound": {"reads": True},
        },
    )
    supervisor = _auth(issuer, Role.SUPERVISOR, neighbour)
    made = await client.post(
        f"{there}/match/v1/lists",
        json={"name": NEIGHBOUR_LIST, "category": "stolen_vehicle"},
        headers=supervisor,
    )
    if made.status_code != 409:
        made.raise_for_status()
    existing = await client.get(
        f"{there}/match/v1/hotlist", params={"plate": plate, "list_name": NEIGHBOUR_LIST}, headers=supervisor
    )
    existing.raise_for_status()
    if not existing.json():
        created = await client.post(
            f"{there}/match/v1/hotlist",
            json={
                "plate": plate,
                "list_name": NEIGHBOUR_LIST,
                "priority": 2,
                "action": "stop and check: stolen in the neighbour zone",
                "reason": "demo: reported stolen",
                "case_reference": "DEMO-PV-5388",
            },
            headers=supervisor,
        )
        created.raise_for_status()
    # The entry crosses (neighbour's match, its share, the exchange, this zone's share and match).
    here = f"zone-{neighbour}.{NEIGHBOUR_LIST}"
    operator = _auth(issuer, Role.OPERATOR, zone_id)
    for _ in range(300):
        found = await client.get(
            "/match/v1/hotlist", params={"plate": plate, "list_name": here}, headers=operator
        )
        if found.status_code == 200 and any(entry["indexed"] for entry in found.json()):
            return here
        await asyncio.sleep(0.1)
    raise RuntimeError(f"zone {neighbour}'s hotlist entry did not reach this zone's matching")


class SharingWatcher:
    """Prints each read shared with the neighbour as it crosses the exchange."""

    def __init__(
        self, exchange: MemoryBus, zone_id: str, neighbour: str, out: TextIO, count: Callable[[], None]
    ) -> None:
        self._out = out
        self._neighbour = neighbour
        self._count = count
        self.worker = ConsumerWorker(
            exchange,
            topics=[ZoneTopics().reads(zone_id, neighbour)],
            group_id=f"console-sharing-{new_event_id()}",
            handler=self._show,
            dlq_topic=Topics().dlq,
            service="console",
            zone_id=zone_id,
        )

    async def _show(self, record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        self._count()
        when = from_timestamp(read.captured_at).strftime("%H:%M:%S")
        self._out.write(
            f"SHARE {when} {read.camera_id:<12} {read.formatted or read.plate:<12} -> zone {self._neighbour} "
            f"(only plate, time, camera, direction, confidence; {AGREEMENT.format(zone=self._neighbour)})\n"
        )
        self._out.flush()
