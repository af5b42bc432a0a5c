"""The `anpr` command as a user runs it: the embedded platform, development tokens, reading images."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from anpr_core.auth import DevIssuer, Role
from anpr_detect_training.synthetic import render_scene
from schild.embedded import EmbeddedPlatform, build_platform, running


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env["ANPR_DATA_DIR"] = str(tmp_path / "var")
    return env


def _anpr(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schild.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_once_replays_the_sample_and_ends_with_a_json_summary(tmp_path: Path) -> None:
    result = _anpr("run", "--once", env=_env(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["frames"] == summary["accepted"] >= 6
    assert summary["reads"] >= summary["frames"] - 1, "the reader missed more than one sample frame"
    assert summary["hits"] >= 1 and "1ABC234" in summary["hit_plates"]
    # Camera registration and the hotlist entry are audited.
    assert summary["audit_rows"] >= 2
    assert any(line.startswith("HIT ") for line in lines)
    # Each sample car is one passage, published once the camera went quiet for the window.
    assert 1 <= summary["passages"] <= summary["reads"]
    assert any(line.startswith("PASS ") for line in lines)
    # The neighbour zone beside the platform: the demo camera's reads are shared with it under an
    # agreement, and its shared list is hit here (2XYZ789, the second sample car), saying whose it is.
    assert summary["shared"] == summary["reads"]
    assert any(line.startswith("SHARE ") and "-> zone 5388" in line for line in lines)
    assert "2XYZ789" in summary["hit_plates"]
    assert any(line.startswith("HIT ") and "(zone 5388's list)" in line for line in lines)
    assert (tmp_path / "var" / "audit.db").exists(), "embedded storage is SQLite under the data dir"

    # A second run reuses the camera (its key is rotated) and the hotlist entry.
    again = _anpr("run", "--once", env=_env(tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["hits"] >= 1


def test_dev_token_is_accepted_by_the_platform_and_refused_in_production(tmp_path: Path) -> None:
    env = _env(tmp_path)
    # The platform's key, as it makes it when it first starts (dev-token makes none: see test_cli_behaviour).
    issuer = DevIssuer(tmp_path / "var" / "dev-issuer" / "key.pem")
    minted = _anpr("dev-token", "--role", "auditor", "--subject", "carol", env=env, timeout=60)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    principal = asyncio.run(issuer.verify(token))
    assert (principal.subject, principal.role) == ("carol", Role.AUDITOR)

    production = _anpr("dev-token", "--role", "auditor", env={**env, "ANPR_ENV": "production"}, timeout=60)
    assert production.returncode == 2
    assert "production" in production.stderr


def test_read_prints_one_json_line_per_image_and_reports_bad_files(tmp_path: Path) -> None:
    good = tmp_path / "frame.jpg"
    good.write_bytes(render_scene("1ABC234", seed=3))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not an image")
    result = _anpr("read", "--json", str(bad), str(good), env=_env(tmp_path))
    assert result.returncode != 0
    assert "broken.jpg" in result.stderr
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(lines) == 1
    assert lines[0]["image"] == str(good)
    plate = lines[0]["plates"][0]
    assert (plate["text"], plate["country"]) == ("1ABC234", "BE")
    assert len(plate["bbox"]) == 4 and lines[0]["ms"] > 0
    # The evidence of the reading, as reads carry it.
    assert len(plate["character_probabilities"]) == 7 and plate["plate_format"] == "BE current (2010)"
    assert plate["readings"][0]["text"] == "1ABC234"


def test_read_with_the_whole_frame_text_reader_and_an_unknown_reader(tmp_path: Path) -> None:
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(render_scene("2XYZ789", seed=8))
    result = _anpr("read", "--reader", "text", str(frame), env=_env(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["plates"][0]["text"] == "2XYZ789"
    unknown = _anpr("read", "--reader", "magic", str(frame), env=_env(tmp_path))
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_the_cli_offers_exactly_the_detect_service_readers() -> None:
    from anpr_detect.adapters.readers import DEFAULT_READER_KIND, READER_KINDS
    from anpr_detect.settings import DetectSettings
    from schild import cli

    assert cli.READER_CHOICES == READER_KINDS
    assert cli.DEFAULT_READER == DEFAULT_READER_KIND == DetectSettings.model_fields["reader"].default


class _NoPlates:
    """A reader that sees nothing: enough to exercise the REST surfaces without loading models."""

    def read(self, image: object) -> list[object]:
        return []


@pytest.fixture
async def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[EmbeddedPlatform]:
    for name in list(os.environ):
        if name.startswith("ANPR_"):
            monkeypatch.delenv(name)
    built = build_platform(tmp_path / "var", reader_factory=lambda _settings: _NoPlates())  # type: ignore[arg-type,return-value]
    async with running(built):
        yield built


async def test_each_service_is_served_under_its_prefix_with_its_openapi(platform: EmbeddedPlatform) -> None:
    auditor = {"Authorization": f"Bearer {platform.issuer.issue('carol', Role.AUDITOR)}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform.app), base_url="http://t"
    ) as client:
        for prefix in ("ingest", "detect", "match", "audit", "access", "share"):
            spec = await client.get(f"/{prefix}/openapi.json")
            assert spec.status_code == 200, prefix
            assert spec.json()["info"]["title"] == f"Schild {prefix}"
            assert (await client.get(f"/{prefix}/healthz")).json()["service"] == prefix
        assert "/v1/passages" in (await client.get("/access/openapi.json")).json()["paths"]
        verdict = await client.get("/audit/v1/verify", headers=auditor)
        assert verdict.status_code == 200 and verdict.json()["valid"] is True
        assert (await client.get("/readyz")).status_code == 200
        metrics = await client.get("/metrics")
        assert "anpr_frames_received_total" in metrics.text


def test_run_refuses_to_start_embedded_with_a_broker_configured(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "ANPR_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    result = _anpr("run", "--once", env=env, timeout=60)
    assert result.returncode == 2
    assert "anpr serve" in result.stderr
