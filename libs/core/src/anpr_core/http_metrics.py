"""The golden signals of a service's REST surface: requests per route and status, time to answer,
requests in flight. A plain ASGI middleware (no per-request task or body copy, as Starlette's
BaseHTTPMiddleware would add), so ingest's intake path pays about 6 microseconds a
request for it (one core of the development machine; 9 before each series' child was kept).

Routes are named by their template (`/v1/cameras/{camera_id}`), never by the path asked for: a path
may carry a plate, and every distinct path would be a series of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anpr_core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

# Probes and scrapes are the platform's, not its users': counting them would hide a quiet service's
# errors behind a steady stream of 200s.
UNMEASURED = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"  # no route took the request (a 404 before any route)
# The innermost service app a request reached: where apps are mounted in one another (the embedded
# platform), only that one counts the request, under its own name.
_MEASURED_BY = "anpr.http_metrics"
# Any token is a method to the server: a client inventing methods must not invent series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


@dataclass(frozen=True)
class RouteTemplate:
    """What a middleware that answers without the router (ingest's raw-frame fast path, the console's
    pass-through) puts in the scope as "route", as Starlette's router puts its route there, so that
    its answers are counted under a template. It must run inside HTTPMetrics
    (anpr_core.service.add_inner_middleware)."""

    path: str


class HTTPMetrics:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service
        self._in_flight = HTTP_IN_FLIGHT.labels(service)
        # Each series' child, looked up once (labels() validates and locks at every call); bounded
        # by routes x methods x statuses.
        self._counts: dict[tuple[str, str, int], Counter] = {}
        self._latencies: dict[tuple[str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        scope[_MEASURED_BY] = self
        if _route_path(scope) in UNMEASURED:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        answered_after: float | None = None

        async def send_and_time(message: Message) -> None:
            nonlocal status, answered_after
            if message["type"] == "http.response.start":
                status = message["status"]
                answered_after = time.perf_counter() - started
            await send(message)

        self._in_flight.inc()
        try:
            await self._app(scope, receive, send_and_time)
        finally:
            self._in_flight.dec()
            if scope.get(_MEASURED_BY) is self:
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
                method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
                elapsed = answered_after if answered_after is not None else time.perf_counter() - started
                self._count(method, route, status).inc()
                self._latency(method, route).observe(elapsed)

    def _count(self, method: str, route: str, status: int) -> Counter:
        key = (method, route, status)
        if (child := self._counts.get(key)) is None:
            child = self._counts[key] = HTTP_REQUESTS.labels(self._service, method, route, str(status))
        return child

    def _latency(self, method: str, route: str) -> Histogram:
        key = (method, route)
        if (child := self._latencies.get(key)) is None:
            child = self._latencies[key] = HTTP_LATENCY.labels(self._service, method, route)
        return child


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path
