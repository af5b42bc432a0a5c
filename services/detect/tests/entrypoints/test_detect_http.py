"""POST /v1/read: the plates of one uploaded image, as the frames consumer reads them; refusals are
problem+json (too many bytes or pixels 413, not an image 415, models still loading 503)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.bootstrap import build_app
from anpr_detect.domain.interpretation import PlateReading
from anpr_detect.settings import DetectSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

PLATE = DetectedPlate("1ABC234", "1-ABC-234", "BE", True, 0.9, (1, 2, 6, 7), (("1ABC234", 0.9),))


class OnePlateReader:
    def __init__(self, plate: DetectedPlate = PLATE) -> None:
        self.plate = plate

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        assert image.shape == (8, 8, 3)
        return [self.plate]


def png(width: int = 8, height: int = 8) -> bytes:
    ok, encoded = cv2.imencode(".png", np.full((height, width, 3), 200, dtype=np.uint8))
    assert ok
    return encoded.tobytes()


@asynccontextmanager
async def detect(
    tmp_path: Path, *, started: bool = True, reader: OnePlateReader | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = DetectSettings(
        data_dir=tmp_path, zone_id="zone-1", max_inflight=1, max_upload_bytes=4096, max_image_pixels=64 * 64
    )
    issuer = DevIssuer(tmp_path / "key.pem")
    app = build_app(settings, MemoryBus(), None, issuer, reader_factory=lambda _: reader or OnePlateReader())
    headers = {"Authorization": f"Bearer {issuer.issue('op', Role.OPERATOR, zone_id='zone-1')}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://detect", headers=headers) as client:
        if not started:
            yield client
            return
        async with app.router.lifespan_context(app):
            yield client


async def test_an_image_is_read_into_its_plates(tmp_path: Path) -> None:
    async with detect(tmp_path) as client:
        answer = await client.post("/v1/read", files={"image": ("frame.png", png(), "image/png")})
    assert answer.status_code == 200
    body = answer.json()
    assert body["plates"] == [
        {
            "text": "1ABC234",
            "formatted": "1-ABC-234",
            "country": "BE",
            "valid": True,
            "confidence": pytest.approx(0.9),
            "bbox": [1, 2, 6, 7],
            # A reader that gives no evidence: none in the answer.
            "character_probabilities": [],
            "readings": [],
            "country_runner_up": "",
            "plate_format": "",
        }
    ]
    assert body["ms"] >= 0


async def test_a_read_carries_its_evidence(tmp_path: Path) -> None:
    evidence = replace(
        PLATE,
        text_probabilities=(0.99, 0.98, 0.97, 0.41, 0.99, 0.99, 0.99),
        readings=(
            PlateReading("1ABC234", "1-ABC-234", "BE", 0.9),
            PlateReading("1A8C234", "1A8C234", "", 0.1),
        ),
        country_runner_up="NL",
        format_name="BE current (2010)",
    )
    async with detect(tmp_path, reader=OnePlateReader(evidence)) as client:
        answer = await client.post("/v1/read", files={"image": ("frame.png", png(), "image/png")})
    assert answer.status_code == 200
    [plate] = answer.json()["plates"]
    assert plate["character_probabilities"] == [0.99, 0.98, 0.97, 0.41, 0.99, 0.99, 0.99]
    assert plate["readings"] == [
        {"text": "1ABC234", "formatted": "1-ABC-234", "country": "BE", "probability": 0.9},
        {"text": "1A8C234", "formatted": "1A8C234", "country": "", "probability": pytest.approx(0.1)},
    ]
    assert (plate["country_runner_up"], plate["plate_format"]) == ("NL", "BE current (2010)")


@pytest.mark.parametrize(
    ("image", "status", "says"),
    [
        (b"\x00" * 5000, 413, "over 4096 bytes"),
        (png(65, 64), 413, "ANPR_MAX_IMAGE_PIXELS"),
        (b"not an image", 415, "not a decodable JPEG/PNG image"),
    ],
)
async def test_a_refused_image_is_a_problem_saying_why(
    tmp_path: Path, image: bytes, status: int, says: str
) -> None:
    async with detect(tmp_path) as client:
        answer = await client.post("/v1/read", files={"image": ("frame.png", image, "image/png")})
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert says in answer.json()["detail"]


async def test_while_the_models_load_an_image_is_answered_503_with_retry_after(tmp_path: Path) -> None:
    async with detect(tmp_path, started=False) as client:
        answer = await client.post("/v1/read", files={"image": ("frame.png", png(), "image/png")})
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert "still loading" in answer.json()["detail"]


async def test_a_role_without_the_reader_is_refused(tmp_path: Path) -> None:
    async with detect(tmp_path) as client:
        token = DevIssuer(tmp_path / "key.pem").issue("dpo", Role.DPO, zone_id="zone-1")
        answer = await client.post(
            "/v1/read",
            files={"image": ("frame.png", png(), "image/png")},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 403
