"""End to end: the five services as separate processes (uvicorn) on the real Kafka and PostgreSQL.

A camera is registered, a plate is hotlisted, a frame of that plate is posted; the read, the
hit and the audit rows must all appear, and the audit chain must verify.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr_core.auth import DevIssuer, Role
from anpr_detect_training.synthetic import render_scene
from conftest import DatabaseRoles

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = ("audit", "access", "match", "detect", "ingest")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Running:
    urls: dict[str, str]
    issuer: DevIssuer
    logs: dict[str, Path]

    def token(self, role: Role, subject: str = "e2e-user") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    def tail_logs(self) -> str:
        return "\n".join(f"--- {name}\n{path.read_text()[-3000:]}" for name, path in self.logs.items())


@pytest.fixture
def services(
    kafka_bootstrap: str, database_roles: DatabaseRoles, topic_prefix: str, tmp_path: Path
) -> Iterator[Running]:
    key_path = tmp_path / "dev-issuer.pem"
    issuer = DevIssuer(key_path)
    base_env = {
        **os.environ,
        "ANPR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        # As production runs: the owner role migrates, each service serves as a role that owns nothing.
        "ANPR_DATABASE_URL": database_roles.app_url,
        "ANPR_DATABASE_OWNER_URL": database_roles.owner_url,
        "ANPR_TOPIC_PREFIX": topic_prefix,
        "ANPR_DEV_ISSUER_KEY_PATH": str(key_path),
        "ANPR_DATA_DIR": str(tmp_path / "var"),
        "ANPR_LOG_LEVEL": "INFO",
        "ORT_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    # The owner's step before the services start, as the compose one-shot and the chart's Job run it.
    migrated = subprocess.run(
        [sys.executable, "-m", "schild.cli", "migrate", "all"],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    logs: dict[str, Path] = {}
    try:
        for name in SERVICES:
            port = _free_port()
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", f"anpr_{name}"],
                    env={**base_env, "ANPR_PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            urls[name] = f"http://127.0.0.1:{port}"
        running = Running(urls, issuer, logs)
        _wait_ready(running, processes)
        yield running
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(
    running: Running, processes: dict[str, subprocess.Popen[bytes]], timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(running.urls)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if processes[name].poll() is not None:
                pytest.fail(f"{name} exited with {processes[name].returncode}\n{running.tail_logs()}")
            try:
                if httpx.get(f"{running.urls[name]}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.3)
    if pending:
        pytest.fail(f"not ready after {timeout_s}s: {sorted(pending)}\n{running.tail_logs()}")


def _eventually(probe: Callable[[], Any], what: str, running: Running, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}\n{running.tail_logs()}")


def test_frame_of_a_hotlisted_plate_gives_read_hit_and_audit_rows(services: Running) -> None:
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
    _eventually(
        lambda: httpx.get(f"{urls['match']}/v1/hotlist/{entry_id}", headers=supervisor).json()["indexed"],
        "the hotlist entry to reach the matching index",
        services,
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

    hits = _eventually(hit_listed, "the hit", services)
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

    items = _eventually(passages, "the read in access", services)
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

    _eventually(audit_actions, "the audit rows of camera, hotlist and search", services)
    rows = httpx.get(f"{urls['audit']}/v1/events", params={"action": "search"}, headers=auditor).json()
    assert any(
        r["case_reference"] == "PV-2026-000123" and r["actor_user"] == "e2e-investigator" for r in rows
    )

    verdict = httpx.get(f"{urls['audit']}/v1/verify", headers=auditor).json()
    assert verdict["valid"] is True
    assert verdict["rows_checked"] >= 4
