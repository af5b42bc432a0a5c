"""The API docs (Swagger UI, ReDoc) load every asset from the service itself, mounted or not, and
the description declares the bearer scheme that Swagger UI's "Authorize" fills in."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from anpr_core.auth import Action, DevIssuer, Principal, require
from anpr_core.service import create_service_app

URL = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _service(tmp_path: Path) -> FastAPI:
    app = create_service_app(
        "probe",
        lifespan=_no_lifespan,
        readiness={},
        zone_id="5344",
        token_verifier=DevIssuer(tmp_path / "key.pem"),
    )

    @app.get("/v1/hits")
    async def hits(_who: Annotated[Principal, Depends(require(Action.VIEW_HITS))]) -> list[str]:
        return []

    return app


def _referenced(html: str) -> list[str]:
    return [a or b for a, b in URL.findall(html)]


@pytest.mark.parametrize("prefix", ["", "/match"])
@pytest.mark.parametrize("page", ["docs", "redoc"])
async def test_docs_pages_load_their_assets_from_the_service(tmp_path: Path, prefix: str, page: str) -> None:
    service = _service(tmp_path)
    app = service
    if prefix:  # as the embedded platform mounts each service under its name
        app = FastAPI()
        app.mount(prefix, service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get(f"{prefix}/{page}")
        assert answer.status_code == 200
        assert answer.headers["content-security-policy"] == "img-src 'self' data: blob:"
        assert "//" not in answer.text.replace("http://www.w3.org", ""), "an absolute URL: a CDN?"
        assert "fonts.googleapis" not in answer.text and "cdn" not in answer.text.lower()
        referenced = _referenced(answer.text)
        assert f"{prefix}/openapi.json" in referenced
        assets = [url for url in referenced if url.startswith(f"{prefix}/docs-assets/")]
        assert len(assets) >= 2, referenced
        for asset in assets:
            fetched = await client.get(asset)
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 1000
        if page == "docs":
            assert '"validatorUrl": null' in answer.text


async def test_openapi_declares_the_bearer_scheme_for_authorize(tmp_path: Path) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_service(tmp_path)), base_url="http://test"
    ) as client:
        schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OIDC access token; `x-roles` on each operation names the roles it serves.",
    }
    assert schema["paths"]["/v1/hits"]["get"]["security"] == [{"bearer": []}]
    assert "/docs" not in schema["paths"] and "/docs-assets" not in str(schema["paths"])
