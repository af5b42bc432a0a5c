"""End to end in the embedded platform, with the real reader: three frames of one car, 0.4 s apart,
at an inbound camera give three reads and one passage; access counts one vehicle in, and a search
finds the passage with its three reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr_core.auth import Role
from anpr_detect_training.synthetic import render_scene
from schild.embedded import EmbeddedPlatform, build_platform, running

JUSTIFIED = {"purpose": "judicial", "case_reference": "PV/2026/16", "legal_basis": "art. 46/12 WPA"}
# Seeds whose scenes the reader reads as 1ABC234 (the car's position and the noise differ per frame).
FRAMES = (21, 22, 23)


@pytest.fixture
async def platform(
    no_anpr_environment: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedPlatform]:
    # The reader takes a second or two a frame on a busy machine: a window wide enough that the
    # passage is not closed between two frames of the car while the next one is still being read.
    monkeypatch.setenv("ANPR_PASSAGE_WINDOW_S", "8")
    built = build_platform(tmp_path / "var")
    async with running(built):
        yield built


async def test_three_frames_of_one_car_are_one_passage_found_with_its_three_reads_and_one_vehicle_in(
    platform: EmbeddedPlatform,
) -> None:
    def auth(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {platform.issuer.issue('e2e', role)}"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://t"
    ) as client:
        camera = await client.post(
            "/ingest/v1/cameras",
            json={"camera_id": "cam-e40-in", "name": "E40, inbound", "direction": "in"},
            headers=auth(Role.ADMIN),
        )
        assert camera.status_code == 201, camera.text
        key = camera.json()["api_key"]
        first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
        for n, seed in enumerate(FRAMES):
            sent = await client.post(
                "/ingest/v1/frames",
                content=render_scene("1ABC234", seed=seed),
                headers={
                    "X-Camera-Key": key,
                    "X-Camera-Id": "cam-e40-in",
                    "X-Captured-At": (first + timedelta(seconds=0.4 * n)).isoformat(),
                    "Content-Type": "image/jpeg",
                },
            )
            assert sent.status_code == 202, sent.text

        async def search() -> list[dict[str, Any]]:
            page = await client.get(
                "/access/v1/passages",
                params={"plate": "1ABC234", **JUSTIFIED},
                headers=auth(Role.INVESTIGATOR),
            )
            assert page.status_code == 200, page.text
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        deadline = time.monotonic() + 180
        while not ((found := await search()) and all(item["passage_id"] for item in found)):
            assert time.monotonic() < deadline, f"no passage in access: {found}"
            await asyncio.sleep(0.5)
        assert await platform.wait_until_idle()

        found = await search()
        assert len(found) == 1, found
        [passage] = found
        assert (passage["camera_id"], passage["direction"], passage["plate"]) == (
            "cam-e40-in",
            "in",
            "1ABC234",
        )
        assert [read["plate"] for read in passage["reads"]] == ["1ABC234"] * 3
        captured = [datetime.fromisoformat(read["captured_at"]) for read in passage["reads"]]
        assert captured == [first + timedelta(seconds=0.4 * n) for n in range(3)]

        traffic = await client.get(
            "/access/v1/stats/traffic",
            params={
                "from": (first - timedelta(hours=1)).isoformat(),
                "to": (first + timedelta(hours=1)).isoformat(),
            },
            headers=auth(Role.SUPERVISOR),
        )
        assert traffic.status_code == 200, traffic.text
        rows = [(r["camera_id"], r["passages_in"], r["passages_out"]) for r in traffic.json()["rows"]]
        assert rows == [("cam-e40-in", 1, 0)]
