"""What every service's FastAPI app has: health, readiness, metrics and problem+json errors."""

from __future__ import annotations

import hmac
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from anpr_core.auth import TokenVerifier
from anpr_core.docs import serve_local_docs
from anpr_core.http_metrics import HTTPMetrics
from anpr_core.openapi import document_answers
from anpr_core.problems import Problem, install_problem_handlers
from anpr_core.settings import CoreSettings

ReadinessCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_service_app(
    name: str,
    *,
    lifespan: Lifespan,
    readiness: Mapping[str, ReadinessCheck],
    zone_id: str,
    token_verifier: TokenVerifier | None = None,
    description: str = "",
    metrics_token: SecretStr | None = None,
) -> FastAPI:
    """`zone_id` is the zone whose data the service holds: only its tokens are served (auth.require).

    `metrics_token` (else ANPR_METRICS_TOKEN from the environment) is the bearer token Prometheus
    scrapes /metrics with; without one, which only development allows (`serve` refuses production),
    /metrics is open.
    """
    scrape_token = _scrape_token(metrics_token)
    app = FastAPI(
        title=f"Schild {name}",
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    serve_local_docs(app)  # Swagger UI and ReDoc with their assets served here, never from a CDN
    app.state.token_verifier = token_verifier
    app.state.zone_id = zone_id
    install_problem_handlers(app)
    document_answers(app)
    app.add_middleware(HTTPMetrics, service=name)  # requests, errors and latency per route

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> dict[str, object]:
        results = {check: await probe() for check, probe in readiness.items()}
        if not all(results.values()):
            failing = ", ".join(check for check, ok in results.items() if not ok)
            raise Problem(
                503, "Not ready", f"not ready: {failing}", checks=results, headers={"Retry-After": "5"}
            )
        return {"status": "ready", "checks": results}

    # Metrics name each camera with its health and last-seen time, which the public camera map
    # withholds on purpose: they are Prometheus's, not the public's.
    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if scrape_token is not None and not _bears(request, scrape_token):
            raise Problem(
                401,
                "Unauthorized",
                "/metrics is for Prometheus: send the scrape token (ANPR_METRICS_TOKEN) as a bearer token",
                headers={"WWW-Authenticate": 'Bearer realm="schild-metrics"'},
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _scrape_token(given: SecretStr | None) -> bytes | None:
    token = given.get_secret_value() if given is not None else os.environ.get("ANPR_METRICS_TOKEN", "")
    return token.encode() if token else None


def _bears(request: Request, token: bytes) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    # Compared in constant time, so the answer's timing tells nothing about the token.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token)


def add_inner_middleware(app: FastAPI, middleware: Callable[..., ASGIApp], **options: Any) -> None:
    """Adds a middleware inside the service's own (HTTPMetrics), where add_middleware would put it
    outside them: what it answers by itself is measured too (it names its route with
    anpr_core.http_metrics.RouteTemplate)."""
    app.user_middleware.append(Middleware(middleware, **options))


async def serve(
    app: FastAPI, settings: CoreSettings, *, http: str = "auto", sock: socket.socket | None = None
) -> None:
    """Runs one service under uvicorn until SIGTERM/SIGINT, on the running event loop; on `sock`
    when given (bound early by anpr_core.standalone.listening_socket), else on the settings' port."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    await uvicorn.Server(config).serve(sockets=[sock] if sock is not None else None)


async def no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
