"""End to end in the embedded platform, with the real reader: a camera registered with a region of
interest around one of two plates in its frame gives a passage of that plate only."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from anpr_core.auth import Role
from anpr_detect_training.synthetic import render_plate
from schild.embedded import EmbeddedPlatform, build_platform, running

JUSTIFIED = {"purpose": "judicial", "case_reference": "PV/2026/17", "legal_basis": "art. 46/12 WPA"}
INSIDE, OUTSIDE = "1ABC234", "2XYZ789"


def _two_plates() -> bytes:
    """A 1280x720 JPEG with INSIDE on the left and OUTSIDE on the right, 240 px wide each."""
    canvas = Image.new("RGB", (1280, 720), (96, 100, 104))
    for text, left in ((INSIDE, 160), (OUTSIDE, 880)):
        plate = render_plate(text)
        canvas.paste(plate.resize((240, round(plate.height * 240 / plate.width))), (left, 420))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
async def platform(
    no_anpr_environment: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedPlatform]:
    monkeypatch.setenv("ANPR_PASSAGE_WINDOW_S", "1")
    built = build_platform(tmp_path / "var")
    async with running(built):
        yield built


async def test_a_camera_region_around_one_of_two_plates_gives_a_passage_of_that_plate_only(
    platform: EmbeddedPlatform,
) -> None:
    def auth(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {platform.issuer.issue('e2e', role)}"}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://t"
    ) as client:
        camera = await client.post(
            "/ingest/v1/cameras",
            json={
                "camera_id": "cam-roi",
                "name": "Left lane",
                "direction": "in",
                "region": [
                    {"x": 60, "y": 330},
                    {"x": 560, "y": 330},
                    {"x": 560, "y": 620},
                    {"x": 60, "y": 620},
                ],
                "plate_width": {"min": 120, "max": 400},
            },
            headers=auth(Role.ADMIN),
        )
        assert camera.status_code == 201, camera.text
        sent = await client.post(
            "/ingest/v1/frames",
            content=_two_plates(),
            headers={
                "X-Camera-Key": camera.json()["api_key"],
                "X-Camera-Id": "cam-roi",
                "X-Captured-At": (datetime.now(UTC) - timedelta(seconds=2)).isoformat(),
                "Content-Type": "image/jpeg",
            },
        )
        assert sent.status_code == 202, sent.text

        async def search(plate: str) -> list[dict[str, Any]]:
            page = await client.get(
                "/access/v1/passages", params={"plate": plate, **JUSTIFIED}, headers=auth(Role.INVESTIGATOR)
            )
            assert page.status_code == 200, page.text
            items: list[dict[str, Any]] = page.json()["items"]
            return items

        deadline = time.monotonic() + 180
        while not (found := await search(INSIDE)):
            assert time.monotonic() < deadline, "no passage of the plate inside the region"
            await asyncio.sleep(0.5)
        assert await platform.wait_until_idle()
        assert [(p["camera_id"], p["plate"]) for p in found] == [("cam-roi", INSIDE)]
        assert await search(OUTSIDE) == []
