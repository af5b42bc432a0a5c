"""Every service's REST surface reports its golden signals: requests per route template and status,
the time to answer, the requests in flight; probes and scrapes are left out, a path's values never
become a label, and a request reaches one service's count only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anpr_core.http_metrics import UNMATCHED, RouteTemplate
from anpr_core.service import add_inner_middleware, create_service_app


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _app(name: str) -> FastAPI:
    app = create_service_app(name, lifespan=_no_lifespan, readiness={}, zone_id="5344")

    @app.get("/v1/plates/{plate}")
    async def plate(plate: str) -> dict[str, str]:
        return {"plate": plate}

    @app.post("/v1/fail")
    async def fail() -> None:
        raise RuntimeError("a bug")

    return app


def _count(service: str, method: str, route: str, status: str) -> float:
    labels = {"service": service, "method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("anpr_http_requests_total", labels) or 0.0


def _latency(service: str, method: str, route: str, suffix: str, **extra: str) -> float:
    labels = {"service": service, "method": method, "route": route, **extra}
    return REGISTRY.get_sample_value(f"anpr_http_request_duration_seconds{suffix}", labels) or 0.0


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_requests_are_counted_by_route_template_and_status_never_by_path() -> None:
    app = _app("probe-routes")
    route = "/v1/plates/{plate}"
    async with _client(app) as client:
        assert (await client.get("/v1/plates/1ABC234")).status_code == 200
        assert (await client.get("/v1/plates/2XYZ987")).status_code == 200
        assert (await client.get("/v1/nowhere")).status_code == 404
        assert (await client.post("/v1/fail")).status_code == 500
        assert (await client.delete("/v1/plates/1ABC234")).status_code == 405
        exposition = (await client.get("/metrics")).text
    assert _count("probe-routes", "GET", route, "200") == 2
    assert _latency("probe-routes", "GET", route, "_count") == 2
    assert _count("probe-routes", "GET", UNMATCHED, "404") == 1
    assert _count("probe-routes", "POST", "/v1/fail", "500") == 1, "an exception is a 500"
    assert _count("probe-routes", "DELETE", route, "405") == 1
    assert "1ABC234" not in exposition and "/v1/nowhere" not in exposition


async def test_an_invented_method_is_counted_as_other_never_as_a_series_of_its_own() -> None:
    async with _client(_app("probe-methods")) as client:
        for method in ("BREW", "PROPFIND", "X-ANYTHING"):
            await client.request(method, "/v1/plates/1ABC234")
        exposition = (await client.get("/metrics")).text
    assert _count("probe-methods", "OTHER", "/v1/plates/{plate}", "405") == 3
    assert "BREW" not in exposition and "PROPFIND" not in exposition


async def test_probes_and_scrapes_are_not_counted() -> None:
    async with _client(_app("probe-ops")) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        exposition = (await client.get("/metrics")).text
    assert 'service="probe-ops"' not in exposition.replace(
        'anpr_http_requests_in_flight{service="probe-ops"}', ""
    )


async def test_a_mounted_service_counts_its_requests_once_under_its_own_name() -> None:
    outer, inner = _app("probe-outer"), _app("probe-inner")
    outer.mount("/inner", inner)
    async with _client(outer) as client:
        assert (await client.get("/inner/v1/plates/1ABC234")).status_code == 200
        assert (await client.get("/inner/healthz")).status_code == 200
        assert (await client.get("/v1/plates/1ABC234")).status_code == 200
    assert _count("probe-inner", "GET", "/v1/plates/{plate}", "200") == 1
    assert _count("probe-outer", "GET", "/v1/plates/{plate}", "200") == 1, "its own request only"
    assert _count("probe-outer", "GET", "/healthz", "200") == 0
    assert _count("probe-inner", "GET", "/healthz", "200") == 0


def _scope(method: str, path: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Clock]:
    fake = _Clock()
    monkeypatch.setattr("anpr_core.http_metrics.time.perf_counter", fake)
    yield fake


async def test_latency_is_the_time_to_the_answers_start_and_a_stream_is_in_flight_until_it_ends(
    clock: _Clock,
) -> None:
    app = create_service_app("probe-stream", lifespan=_no_lifespan, readiness={}, zone_id="5344")
    go_on = asyncio.Event()

    @app.get("/v1/stream")
    async def stream() -> StreamingResponse:
        clock.now = 0.3  # the answer starts 0.3 s after the request

        async def events() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            clock.now = 600.0  # the stream stays open for ten minutes: not the latency
            await go_on.wait()
            yield b"data: last\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # Driven as a server would (httpx's ASGI transport holds the whole body before it answers).
    in_flight = {"service": "probe-stream"}
    seen_in_flight: list[float | None] = []
    bodies: list[bytes] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])
            seen_in_flight.append(REGISTRY.get_sample_value("anpr_http_requests_in_flight", in_flight))
            go_on.set()

    await app(_scope("GET", "/v1/stream"), receive, send)
    assert bodies[0] == b"data: first\n\n" and b"last" in bodies[1]
    assert seen_in_flight[:2] == [1, 1], "in flight while the stream is open"
    assert REGISTRY.get_sample_value("anpr_http_requests_in_flight", in_flight) == 0
    assert _latency("probe-stream", "GET", "/v1/stream", "_sum") == pytest.approx(0.3)
    assert _latency("probe-stream", "GET", "/v1/stream", "_bucket", le="0.25") == 0
    assert _latency("probe-stream", "GET", "/v1/stream", "_bucket", le="0.5") == 1


class _AnswersItself:
    """A middleware that answers some requests without the router, as ingest's fast path does."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/quick":
            scope["route"] = RouteTemplate("/v1/quick")
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self._app(scope, receive, send)


async def test_what_an_inner_middleware_answers_itself_is_counted_under_its_template() -> None:
    app = _app("probe-answers-itself")
    add_inner_middleware(app, _AnswersItself)
    async with _client(app) as client:
        assert (await client.post("/v1/quick")).status_code == 202
        assert (await client.get("/v1/plates/1ABC234")).status_code == 200
    assert _count("probe-answers-itself", "POST", "/v1/quick", "202") == 1
    assert _count("probe-answers-itself", "GET", "/v1/plates/{plate}", "200") == 1
