"""The standalone services' event loop and HTTP parser: uvloop and httptools when installed, else
asyncio and h11."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from anpr_core.service import create_service_app
from anpr_core.standalone import event_loop_factory, http_protocol


@pytest.fixture
def without_c_extensions(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes `import` raise ImportError, as on a machine without them.
    monkeypatch.setitem(sys.modules, "uvloop", None)
    monkeypatch.setitem(sys.modules, "httptools", None)


def test_uvloop_and_httptools_when_installed() -> None:
    assert event_loop_factory() is uvloop.new_event_loop
    assert http_protocol() == "httptools"
    config = uvicorn.Config(FastAPI(), http=http_protocol())
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol


@pytest.mark.usefixtures("without_c_extensions")
def test_asyncio_and_h11_without_them() -> None:
    assert event_loop_factory() is asyncio.new_event_loop
    assert http_protocol() == "h11"
    config = uvicorn.Config(FastAPI(), http=http_protocol())
    config.load()
    assert config.http_protocol_class is H11Protocol


@asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _health_over_http(port: int) -> tuple[int, dict[str, str]]:
    """GET /healthz from a service app under uvicorn, configured as `serve` configures it."""

    async def scenario() -> tuple[int, dict[str, str]]:
        app = create_service_app("probe", lifespan=_no_lifespan, readiness={}, zone_id="5344")
        config = uvicorn.Config(
            app, port=port, http=http_protocol(), log_config=None, access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started and not serving.done():  # noqa: ASYNC110 - no start event
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.get("/healthz")
            return response.status_code, response.json()
        finally:
            server.should_exit = True
            await serving

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(scenario())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_service_answers_on_uvloop_and_httptools() -> None:
    assert _health_over_http(_free_port()) == (200, {"status": "ok", "service": "probe"})


@pytest.mark.usefixtures("without_c_extensions")
def test_a_service_answers_on_asyncio_and_h11() -> None:
    assert _health_over_http(_free_port()) == (200, {"status": "ok", "service": "probe"})
