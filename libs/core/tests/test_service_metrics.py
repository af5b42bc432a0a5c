"""/metrics is Prometheus's: with a scrape token configured, nobody else reads camera health from it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from anpr_core.metrics import CAMERA_LAST_SEEN
from anpr_core.problems import PROBLEM_JSON
from anpr_core.service import create_service_app
from anpr_core.settings import CoreSettings, Environment

SCRAPE_TOKEN = "prometheus-scrape-token-0123456789"


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _app(metrics_token: SecretStr | None = None) -> FastAPI:
    return create_service_app(
        "probe", lifespan=_no_lifespan, readiness={}, zone_id="5344", metrics_token=metrics_token
    )


async def _get_metrics(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        return await client.get("/metrics", headers=headers or {})


@pytest.fixture(autouse=True)
def _no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANPR_METRICS_TOKEN", raising=False)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-of-the-same-kind-0000"},
        {"Authorization": f"Bearer {SCRAPE_TOKEN}x"},
        {"Authorization": f"Basic {SCRAPE_TOKEN}"},
        {"Authorization": SCRAPE_TOKEN},
    ],
    ids=["none", "wrong", "longer", "basic-scheme", "no-scheme"],
)
async def test_metrics_without_the_scrape_token_are_refused(headers: dict[str, str]) -> None:
    CAMERA_LAST_SEEN.labels(camera="cam-metrics-probe").set(1.0)
    response = await _get_metrics(_app(SecretStr(SCRAPE_TOKEN)), headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401
    assert "cam-metrics-probe" not in response.text


async def test_metrics_with_the_scrape_token_are_served() -> None:
    CAMERA_LAST_SEEN.labels(camera="cam-metrics-probe").set(1.0)
    response = await _get_metrics(_app(SecretStr(SCRAPE_TOKEN)), {"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'anpr_camera_last_seen_timestamp_seconds{camera="cam-metrics-probe"}' in response.text


async def test_the_scrape_token_comes_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANPR_METRICS_TOKEN", SCRAPE_TOKEN)
    app = _app()
    assert (await _get_metrics(app)).status_code == 401
    assert (await _get_metrics(app, {"Authorization": f"bearer {SCRAPE_TOKEN}"})).status_code == 200


async def test_development_without_a_scrape_token_serves_metrics_openly() -> None:
    assert (await _get_metrics(_app())).status_code == 200


def _production(tmp_path: Path, **extra: object) -> CoreSettings:
    return CoreSettings(
        env=Environment.PRODUCTION,
        kafka_bootstrap="kafka:9092",
        database_url="postgresql://schild_app@db/schild",
        database_owner_url="postgresql://schild_owner@db/schild",
        oidc_issuer="https://idp.example/realms/police",
        oidc_jwks_url="https://idp.example/realms/police/certs",
        data_dir=tmp_path,
        **extra,  # type: ignore[arg-type]
    )


def test_production_refuses_to_start_without_a_scrape_token(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="ANPR_METRICS_TOKEN"):
        _production(tmp_path)
    assert _production(tmp_path, metrics_token=SCRAPE_TOKEN).metrics_token is not None


def test_a_short_scrape_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        CoreSettings(metrics_token="short")
