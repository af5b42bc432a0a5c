"""Every service's OpenAPI names the answers its routes give: problem+json 4xx/503, bearer security and
roles, Server-Sent Events as text/event-stream; and the app answers as documented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel

from anpr_core.auth import Action, DevIssuer, Principal, Role, require
from anpr_core.openapi import EVENT_STREAM, event_stream_route
from anpr_core.problems import PROBLEM_JSON
from anpr_core.service import create_service_app

ZONE = "5344"


class _Note(BaseModel):
    text: str


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _app(issuer: DevIssuer) -> FastAPI:
    app = create_service_app(
        "probe", lifespan=_no_lifespan, readiness={}, zone_id=ZONE, token_verifier=issuer
    )
    router = APIRouter(prefix="/v1")

    @router.get("/hits/{hit_id}")
    async def hit(hit_id: str, _who: Annotated[Principal, Depends(require(Action.VIEW_HITS))]) -> _Note:
        return _Note(text=hit_id)

    @router.post("/notes", status_code=201)
    async def note(body: _Note, _who: Annotated[Principal, Depends(require(Action.MANAGE_HOLDS))]) -> _Note:
        return body

    @router.post("/heartbeat", status_code=204)
    async def heartbeat(x_camera_key: Annotated[str | None, Header()] = None) -> None:
        return None

    @router.get("/stream", **event_stream_route("event: tick, data: a count"))
    async def stream(_who: Annotated[Principal, Depends(require(Action.VIEW_HITS))]) -> Any:
        from anpr_core.openapi import EventStreamResponse

        async def ticks() -> AsyncIterator[str]:
            for count in range(2):
                yield f"event: tick\ndata: {count}\n\n"
                await asyncio.sleep(0)

        return EventStreamResponse(ticks())

    app.include_router(router)
    return app


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "key.pem")


@pytest.fixture
def spec(issuer: DevIssuer) -> dict[str, Any]:
    return _app(issuer).openapi()


def test_guarded_routes_name_bearer_security_roles_and_their_refusals(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/hits/{hit_id}"]["get"]
    assert operation["security"] == [{"bearer": []}]
    assert operation["x-roles"] == ["investigator", "operator", "supervisor"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"200", "401", "403", "404", "422", "503"} <= set(operation["responses"])
    for status in ("401", "403", "404", "422", "503"):
        content = operation["responses"][status]["content"]
        assert list(content) == [PROBLEM_JSON], status
        assert content[PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200", "503"}


def test_bodies_may_be_refused_and_fastapis_validation_schema_is_gone(spec: dict[str, Any]) -> None:
    responses = spec["paths"]["/v1/notes"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "503"} <= set(responses)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_camera_calls_name_the_camera_refusals(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/v1/heartbeat"]["post"]
    assert "security" not in operation
    assert {"204", "401", "403", "404", "409", "422", "503"} <= set(operation["responses"])


def test_event_streams_are_documented_as_text_event_stream(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/v1/stream"]["get"]["responses"]["200"]["content"]
    assert list(content) == [EVENT_STREAM]


async def test_the_app_answers_as_documented(issuer: DevIssuer) -> None:
    app = _app(issuer)
    operator = {"Authorization": f"Bearer {issuer.issue('olga', Role.OPERATOR, ZONE)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        refused = await client.post("/v1/notes", json={"text": "x"})
        assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM_JSON
        forbidden = await client.post("/v1/notes", json={"text": "x"}, headers=operator)
        assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM_JSON
        invalid = await client.get("/v1/hits/1", params={}, headers={**operator, "Authorization": "Bearer x"})
        assert invalid.status_code == 401
        stream = await client.get("/v1/stream", headers=operator)
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith(EVENT_STREAM)
        assert stream.text.count("event: tick") == 2
