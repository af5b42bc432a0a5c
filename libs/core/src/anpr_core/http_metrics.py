"""The golden signals of a service's REST surface: requests per route and status, time to answer,
requests in flight. A plain ASGI middleware (no per-request task or body copy, as Starlette's
BaseHTTPMiddleware would add), so ingest's intake path pays a few microseconds for it.

Routes are named by their template (`/v1/cameras/{camera_id}`), never by the path asked for: a path
may carry a plate, and every distinct path would be a series of its own.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anpr_core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

# Probes and scrapes are the platform's, not its users': counting them would hide a quiet service's
# errors behind a steady stream of 200s.
UNMEASURED = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "unmatched"  # no route took the request (a 404 before any route)
# The innermost service app a request reached: where apps are mounted in one another (the embedded
# platform), only that one counts the request, under its own name.
_MEASURED_BY = "anpr.http_metrics"


class HTTPMetrics:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service
        self._in_flight = HTTP_IN_FLIGHT.labels(service)

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
                method = scope["method"]
                HTTP_REQUESTS.labels(self._service, method, route, str(status)).inc()
                elapsed = answered_after if answered_after is not None else time.perf_counter() - started
                HTTP_LATENCY.labels(self._service, method, route).observe(elapsed)


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path
