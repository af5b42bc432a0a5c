"""End to end in the embedded platform, with the vendor camera emulator (anpr camera emulate): a
Hikvision push (Basic) of a hotlisted plate raises a hit and an investigator finds it with its images;
an Axis vehicle's NEW, UPDATE and LOST are one passage; a Dahua camera is taken on its fixed root path
with Digest; every vendor's format is taken; an XML external entity is refused and reads no file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from anpr_core.auth import Role
from anpr_core.testing import read_topic
from schild.camera_emulate import VENDORS, emulate
from schild.embedded import EmbeddedPlatform, build_platform, running

JUSTIFIED = {"purpose": "judicial", "case_reference": "PV/2026/19", "legal_basis": "art. 46/12 WPA"}
T = TypeVar("T")


@pytest.fixture
async def platform(no_anpr_environment: None, tmp_path: Path) -> AsyncIterator[EmbeddedPlatform]:
    built = build_platform(tmp_path / "var")
    async with running(built):
        yield built


@pytest.fixture
async def client(platform: EmbeddedPlatform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://t"
    ) as client:
        yield client


def auth(platform: EmbeddedPlatform, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {platform.issuer.issue('e2e', role)}"}


async def register(client: httpx.AsyncClient, platform: EmbeddedPlatform, camera_id: str, vendor: str) -> str:
    body = {"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": "smart", "vendor": vendor}
    response = await client.post("/ingest/v1/cameras", json=body, headers=auth(platform, Role.ADMIN))
    assert response.status_code == 201, response.text
    key: str = response.json()["api_key"]
    return key


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 120) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def passages(client: httpx.AsyncClient, platform: EmbeddedPlatform, plate: str) -> list[dict[str, Any]]:
    page = await client.get(
        "/access/v1/passages", params={"plate": plate, **JUSTIFIED}, headers=auth(platform, Role.INVESTIGATOR)
    )
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def test_a_hikvision_push_of_a_hotlisted_plate_raises_a_hit_found_with_its_images(
    platform: EmbeddedPlatform, client: httpx.AsyncClient
) -> None:
    supervisor = auth(platform, Role.SUPERVISOR)
    assert (
        await client.post(
            "/match/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
    ).status_code == 201
    entry = await client.post(
        "/match/v1/hotlist",
        json={"plate": "1-ABC-234", "list_name": "stolen", "category": "stolen_vehicle", "reason": "stolen",
              "case_reference": "PV/2026/19"},
        headers=supervisor,
    )  # fmt: skip
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["entry_id"]

    async def indexed() -> bool:
        return bool((await client.get(f"/match/v1/hotlist/{entry_id}", headers=supervisor)).json()["indexed"])

    await eventually(indexed, "the hotlist entry in the index")
    key = await register(client, platform, "cam-hik", "hikvision")
    report = await emulate(client_at(client, "/ingest"), "hikvision", "cam-hik", key, ["1-ABC-234"])
    assert (report.accepted, report.refused) == (1, 0), report.as_dict()

    async def hit() -> list[dict[str, Any]]:
        hits = (await client.get("/match/v1/hits", headers=supervisor)).json()
        return [h for h in hits if h["entry_id"] == entry_id]

    [raised] = await eventually(hit, "the hit")
    assert (raised["camera_id"], raised["plate_listed"], raised["match_kind"]) == (
        "cam-hik",
        "1ABC234",
        "exact",
    )
    assert raised["read_event_id"] == report.event_ids[0]

    found = await eventually(lambda: passages(client, platform, "1ABC234"), "the read in access")
    [read] = found[0]["reads"]
    assert (read["camera_id"], read["country"], read["camera_read"]) == ("cam-hik", "BE", True)
    assert read["has_crop"] and read["has_overview"]
    for kind in ("crop", "overview"):
        image = await client.get(
            f"/access/v1/passages/{read['event_id']}/image",
            params={"kind": kind, **JUSTIFIED},
            headers=auth(platform, Role.INVESTIGATOR),
        )
        assert image.status_code == 200 and image.content.startswith(b"\xff\xd8"), kind


def client_at(client: httpx.AsyncClient, prefix: str) -> httpx.AsyncClient:
    """The same app, with ingest's base URL, as the emulator is given it."""
    return httpx.AsyncClient(transport=client._transport, base_url=f"http://t{prefix}")


async def test_an_axis_vehicles_new_update_and_lost_are_one_passage(
    platform: EmbeddedPlatform, client: httpx.AsyncClient
) -> None:
    key = await register(client, platform, "cam-axis", "axis")
    report = await emulate(client_at(client, "/ingest"), "axis", "cam-axis", key, ["2-XYZ-987"])
    assert (report.sent, report.accepted) == (3, 3), report.as_dict()

    async def closed() -> list[dict[str, Any]]:
        found = await passages(client, platform, "2XYZ987")
        return found if found and all(item["passage_id"] for item in found) else []

    await eventually(closed, "the passage")
    assert await platform.wait_until_idle()
    [passage] = await passages(client, platform, "2XYZ987")
    assert passage["plate"] == "2XYZ987"
    assert len(report.event_ids) == 2  # NEW and UPDATE; LOST repeats them and adds no read
    assert sorted(read["event_id"] for read in passage["reads"]) == sorted(report.event_ids)
    first = datetime.fromisoformat(passage["first_seen"])
    traffic = await client.get(
        "/access/v1/stats/traffic",
        params={
            "from": (first - timedelta(hours=1)).isoformat(),
            "to": (first + timedelta(hours=1)).isoformat(),
        },
        headers=auth(platform, Role.SUPERVISOR),
    )
    assert [(r["camera_id"], r["passages_in"]) for r in traffic.json()["rows"]] == [("cam-axis", 1)]


async def test_every_vendors_format_is_taken_and_dahua_on_its_fixed_root_path(
    platform: EmbeddedPlatform, client: httpx.AsyncClient
) -> None:
    for number, vendor in enumerate(VENDORS):
        key = await register(client, platform, f"cam-{vendor}", vendor)
        # Dahua's path is at the server's root: the emulator is given the root as its base URL.
        base = client_at(client, "" if vendor == "dahua" else "/ingest")
        report = await emulate(base, vendor, f"cam-{vendor}", key, [f"{number + 1}-VND-{100 + number}"])
        assert report.refused == 0 and report.event_ids, (vendor, report.as_dict())
    reads = await read_topic(platform.bus, "anpr.reads.v1")
    assert {record.key.decode() for record in reads if record.key} >= {f"cam-{v}" for v in VENDORS}


async def test_an_external_entity_is_refused_and_reads_no_file(
    platform: EmbeddedPlatform, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-9ZZZ999")
    key = await register(client, platform, "cam-vax", "vaxtor")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY s SYSTEM "file://{secret}">]>'
        f"<vaxtor><plate>&s;</plate><date>{datetime.now(UTC).isoformat()}</date></vaxtor>"
    )
    refused = await client.post(
        "/ingest/v1/vendors/vaxtor/cam-vax",
        content=xxe.encode(),
        headers={"Content-Type": "application/xml"},
        auth=httpx.BasicAuth("cam-vax", key),
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:schild:vendor:xml_forbidden"
    assert await platform.wait_until_idle()
    for topic in ("anpr.reads.v1", "anpr.dlq.v1", "anpr.audit.v1"):
        assert not any(b"TOP-SECRET" in record.value for record in await read_topic(platform.bus, topic))
    assert await passages(client, platform, "TOPSECRET9ZZZ999") == []
