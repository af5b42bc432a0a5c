"""End to end: the five services as separate processes (uvicorn) on the real Kafka and PostgreSQL.

A camera is registered, a plate is hotlisted, a frame of that plate is posted; the read, the
hit and the audit rows must all appear, and the audit chain must verify.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr_core.auth import Role
from anpr_detect_training.synthetic import render_scene
from conftest import DatabaseRoles, ServiceProcesses, service_processes

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def services(
    kafka_bootstrap: str, database_roles: DatabaseRoles, topic_prefix: str, tmp_path: Path
) -> Iterator[ServiceProcesses]:
    with service_processes(kafka_bootstrap, database_roles, topic_prefix, tmp_path) as running:
        yield running


def test_frame_of_a_hotlisted_plate_gives_read_hit_and_audit_rows(services: ServiceProcesses) -> None:
    urls = services.urls
    admin = services.token(Role.ADMIN, "e2e-admin")
    supervisor = services.token(Role.SUPERVISOR, "e2e-supervisor")
    investigator = services.token(Role.INVESTIGATOR, "e2e-investigator")
    auditor = services.token(Role.AUDITOR, "e2e-auditor")

    camera = httpx.post(
        f"{urls['ingest']}/v1/cameras",
        json={"camera_id": "e2e-cam-01", "name": "Border camera E40", "direction": "in"},
        headers=admin,
    )
    assert camera.status_code == 201, camera.text
    camera_key = camera.json()["api_key"]

    stolen = httpx.post(
        f"{urls['match']}/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
    )
    assert stolen.status_code == 201, stolen.text
    entry = httpx.post(
        f"{urls['match']}/v1/hotlist",
        json={
            "plate": "1-ABC-234",
            "list_name": "stolen",
            "category": "stolen_vehicle",
            "reason": "reported stolen",
            "case_reference": "PV-2026-000123",
        },
        headers=supervisor,
    )
    assert entry.status_code == 201, entry.text
    entry_id = entry.json()["entry_id"]
    services.eventually(
        lambda: httpx.get(f"{urls['match']}/v1/hotlist/{entry_id}", headers=supervisor).json()["indexed"],
        "the hotlist entry to reach the matching index",
    )

    frame = httpx.post(
        f"{urls['ingest']}/v1/frames",
        data={"camera_id": "e2e-cam-01", "captured_at": datetime.now(UTC).isoformat()},
        files={"image": ("frame.jpg", render_scene("1ABC234", seed=7), "image/jpeg")},
        headers={"X-Camera-Key": camera_key},
    )
    assert frame.status_code == 202, frame.text

    def hit_listed() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(f"{urls['match']}/v1/hits", headers=supervisor).json()
        return [h for h in found if h["entry_id"] == entry_id]

    hits = services.eventually(hit_listed, "the hit")
    assert hits[0]["plate_listed"] == "1ABC234"
    assert hits[0]["match_kind"] == "exact"
    assert hits[0]["camera_id"] == "e2e-cam-01"

    justification = {
        "purpose": "judicial",
        "case_reference": "PV-2026-000123",
        "legal_basis": "art. 46/12 WPA",
    }

    def passages() -> list[dict[str, Any]]:
        page = httpx.get(
            f"{urls['access']}/v1/passages",
            params={"plate": "1ABC234", **justification},
            headers=investigator,
        )
        assert page.status_code == 200, page.text
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    items = services.eventually(passages, "the read in access")
    assert items[0]["formatted"] == "1-ABC-234"
    assert items[0]["country"] == "BE"
    assert items[0]["direction"] == "in"

    refused = httpx.get(f"{urls['access']}/v1/passages", params={"plate": "1ABC234"}, headers=investigator)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")

    def audit_actions() -> set[tuple[str, str]] | None:
        rows = httpx.get(f"{urls['audit']}/v1/events", params={"limit": 1000}, headers=auditor).json()
        seen = {(row["action"], row["outcome"]) for row in rows}
        wanted = {
            ("camera_change", "allowed"),
            ("hotlist_change", "allowed"),
            ("search", "allowed"),
            ("search", "refused"),
        }
        return seen if wanted <= seen else None

    services.eventually(audit_actions, "the audit rows of camera, hotlist and search")
    rows = httpx.get(f"{urls['audit']}/v1/events", params={"action": "search"}, headers=auditor).json()
    assert any(
        r["case_reference"] == "PV-2026-000123" and r["actor_user"] == "e2e-investigator" for r in rows
    )

    verdict = httpx.get(f"{urls['audit']}/v1/verify", headers=auditor).json()
    assert verdict["valid"] is True
    assert verdict["rows_checked"] >= 4
