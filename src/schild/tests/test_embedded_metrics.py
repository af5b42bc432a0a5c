"""The embedded platform guards /metrics as every standalone service does: at its root and under
each service's prefix, only the scrape token gets the camera health the public map withholds."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from schild.embedded import EmbeddedPlatform, build_platform, running

SCRAPE_TOKEN = "embedded-scrape-token-0123456789"


class _NoPlates:
    def read(self, image: np.ndarray[Any, Any]) -> list[Any]:
        return []


@pytest.fixture
async def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmbeddedPlatform]:
    for name in list(os.environ):
        if name.startswith("ANPR_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANPR_METRICS_TOKEN", SCRAPE_TOKEN)
    built = build_platform(tmp_path / "var", reader_factory=lambda _settings: _NoPlates())
    async with running(built):
        yield built


@pytest.mark.parametrize("path", ["/metrics", "/ingest/metrics", "/match/metrics", "/access/metrics"])
async def test_metrics_answer_the_scrape_token_only(platform: EmbeddedPlatform, path: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://t"
    ) as client:
        refused = await client.get(path)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "anpr_" not in refused.text
        served = await client.get(path, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
        assert served.status_code == 200
        assert "anpr_frames_received_total" in served.text
