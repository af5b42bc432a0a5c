"""End to end on the real Kafka and PostgreSQL, the five services as separate processes: a vendor
camera (the `anpr camera emulate` fake) pushes in its own format. A Hikvision push (Basic) of a
hotlisted plate raises a hit and an investigator finds it with its images; an Axis vehicle's NEW,
UPDATE and LOST are one passage; an XML external entity is refused, reads no file, and is kept raw
on the dead-letter topic."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import dlq_pb2
from anpr_core.auth import Role
from anpr_core.bus.kafka import KafkaBus
from anpr_core.events import Topics
from conftest import DatabaseRoles, ServiceProcesses, service_processes
from schild.camera_emulate import emulate

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

JUSTIFIED = {"purpose": "judicial", "case_reference": "PV-2026-000019", "legal_basis": "art. 46/12 WPA"}


@dataclass
class Platform(ServiceProcesses):
    topics: Topics = field(default_factory=Topics)
    kafka: str = ""

    def register(self, camera_id: str, vendor: str) -> str:
        body = {
            "camera_id": camera_id,
            "name": camera_id,
            "direction": "in",
            "kind": "smart",
            "vendor": vendor,
        }
        camera = httpx.post(f"{self.urls['ingest']}/v1/cameras", json=body, headers=self.token(Role.ADMIN))
        assert camera.status_code == 201, camera.text
        key: str = camera.json()["api_key"]
        return key

    def passages(self, plate: str) -> list[dict[str, Any]]:
        page = httpx.get(
            f"{self.urls['access']}/v1/passages",
            params={"plate": plate, **JUSTIFIED},
            headers=self.token(Role.INVESTIGATOR),
        )
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items


@pytest.fixture
def platform(
    kafka_bootstrap: str, database_roles: DatabaseRoles, topic_prefix: str, tmp_path: Path
) -> Iterator[Platform]:
    with service_processes(kafka_bootstrap, database_roles, topic_prefix, tmp_path) as running:
        yield Platform(**vars(running), topics=Topics(topic_prefix), kafka=kafka_bootstrap)


def test_a_hikvision_push_of_a_hotlisted_plate_raises_a_hit_found_with_its_images(platform: Platform) -> None:
    urls = platform.urls
    supervisor = platform.token(Role.SUPERVISOR)
    listed = httpx.post(
        f"{urls['match']}/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
    )
    assert listed.status_code == 201, listed.text
    entry = httpx.post(
        f"{urls['match']}/v1/hotlist",
        json={"plate": "1-ABC-234", "list_name": "stolen", "category": "stolen_vehicle", "reason": "stolen",
              "case_reference": "PV-2026-000019"},
        headers=supervisor,
    )  # fmt: skip
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["entry_id"]
    platform.eventually(
        lambda: httpx.get(f"{urls['match']}/v1/hotlist/{entry_id}", headers=supervisor).json()["indexed"],
        "the hotlist entry in the index",
    )
    key = platform.register("cam-hik", "hikvision")
    # The fake camera as a site engineer runs it: the CLI, with Basic authentication.
    command = ["camera", "emulate", "--vendor", "hikvision", "--camera", "cam-hik", "--key", key]
    pushed = subprocess.run(
        [sys.executable, "-m", "schild.cli", *command, "--url", urls["ingest"], "1-ABC-234"],
        capture_output=True,
        text=True,
        env=platform.env,
        timeout=120,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert '"accepted": 1' in pushed.stdout

    def hit() -> list[dict[str, Any]]:
        hits: list[dict[str, Any]] = httpx.get(f"{urls['match']}/v1/hits", headers=supervisor).json()
        return [h for h in hits if h["entry_id"] == entry_id]

    [raised] = platform.eventually(hit, "the hit")
    assert (raised["camera_id"], raised["plate_listed"], raised["match_kind"]) == (
        "cam-hik",
        "1ABC234",
        "exact",
    )

    found = platform.eventually(lambda: platform.passages("1ABC234"), "the read in access")
    [read] = found[0]["reads"]
    assert read["event_id"] == raised["read_event_id"]
    assert (read["country"], read["direction"], read["has_crop"], read["has_overview"]) == (
        "BE",
        "in",
        True,
        True,
    )
    for kind in ("crop", "overview"):
        image = httpx.get(
            f"{urls['access']}/v1/passages/{read['event_id']}/image",
            params={"kind": kind, **JUSTIFIED},
            headers=platform.token(Role.INVESTIGATOR),
        )
        assert image.status_code == 200 and image.content.startswith(b"\xff\xd8"), (kind, image.text)


def test_an_axis_vehicles_new_update_and_lost_are_one_passage(platform: Platform) -> None:
    key = platform.register("cam-axis", "axis")

    async def push() -> list[str]:
        async with httpx.AsyncClient(base_url=platform.urls["ingest"], timeout=30) as client:
            report = await emulate(client, "axis", "cam-axis", key, ["2-XYZ-987"])
        assert (report.sent, report.accepted) == (3, 3), report.as_dict()
        return report.event_ids

    read_ids = asyncio.run(push())

    def closed() -> list[dict[str, Any]]:
        found = platform.passages("2XYZ987")
        return found if found and all(item["passage_id"] for item in found) else []

    platform.eventually(closed, "the passage")
    time.sleep(4)  # longer than detect's passage window: a late read would have made a second one
    [passage] = platform.passages("2XYZ987")
    assert passage["plate"] == "2XYZ987" and passage["direction"] == "in"
    assert sorted(read["event_id"] for read in passage["reads"]) == sorted(read_ids)
    assert len(read_ids) == 2  # NEW and UPDATE; LOST repeated them and added no read


def test_an_external_entity_is_refused_reads_no_file_and_is_kept_raw(
    platform: Platform, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-9ZZZ999")
    key = platform.register("cam-hik-x", "hikvision")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY s SYSTEM "file://{secret}">]>'
        "<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&s;</licensePlate></ANPR>"
        f"<dateTime>{datetime.now(UTC).isoformat()}</dateTime></EventNotificationAlert>"
    ).encode()
    refused = httpx.post(
        f"{platform.urls['ingest']}/v1/vendors/hikvision/cam-hik-x",
        content=xxe,
        headers={"Content-Type": "application/xml"},
        auth=httpx.BasicAuth("cam-hik-x", key),
    )
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:schild:vendor:xml_forbidden"

    async def dead_letters() -> list[dlq_pb2.DeadLetter]:
        bus = KafkaBus(platform.kafka, client_id="e2e-vendor-dlq")
        await bus.start()
        consumer = bus.consumer([platform.topics.dlq], platform.topics.group("e2e-dlq-reader"))
        await consumer.start()
        letters = []
        try:
            for _ in range(40):
                for record in await consumer.poll(timeout_s=0.5, max_records=100):
                    letter = dlq_pb2.DeadLetter()
                    letter.ParseFromString(record.value)
                    letters.append(letter)
                if letters:
                    break
        finally:
            await consumer.stop()
            await bus.stop()
        return letters

    [letter] = asyncio.run(dead_letters())
    assert letter.original_value == xxe
    assert b"TOP-SECRET" not in letter.SerializeToString()
    assert platform.passages("TOPSECRET9ZZZ999") == []
