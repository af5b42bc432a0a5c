"""The services' REST APIs as the console reaches them: in process (the embedded platform mounts
every service beside the console) or over HTTP (compose, helm). Either way the request goes on as
the user made it, with the user's token as its bearer: the service decides, and audits, as for curl.

Bodies stream both ways, so the live stream of hits (Server-Sent Events) and large CSV imports and
exports pass through without being held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Never forwarded to a service: the console's own cookie, any credential the page sent, and the
# headers that belong to one connection (RFC 9110 7.6.1).
_DROPPED_REQUEST = {b"cookie", b"authorization", b"host", b"connection", b"keep-alive", b"te", b"upgrade"}
_DROPPED_RESPONSE = {b"connection", b"keep-alive", b"transfer-encoding", b"set-cookie", b"content-length"}


class Upstream(Protocol):
    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answers the request of `scope` (its path the service's own, e.g. /v1/hits)."""


def with_bearer(headers: list[tuple[bytes, bytes]], token: str) -> list[tuple[bytes, bytes]]:
    kept = [(name, value) for name, value in headers if name.lower() not in _DROPPED_REQUEST]
    return [*kept, (b"authorization", f"Bearer {token}".encode("latin-1"))]


class InProcess:
    """A service's ASGI app in this process: called as if it were standalone."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [*scope["headers"], (b"host", b"console.internal")]
        await self._app({**scope, "headers": headers}, receive, send)


class OverHttp:
    """A service at a base URL, e.g. http://match:8000."""

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self._base = base_url.rstrip("/")
        self._client = client

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        request = self._client.build_request(
            scope["method"],
            f"{self._base}{scope['path']}" + (f"?{query}" if query else ""),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            content=_body(receive) if scope["method"] not in ("GET", "HEAD") else None,
        )
        try:
            answer = await self._client.send(request, stream=True)
        except httpx.HTTPError as error:
            await _unavailable(send, f"the service did not answer: {type(error).__name__}")
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": answer.status_code,
                    "headers": [(k, v) for k, v in answer.headers.raw if k.lower() not in _DROPPED_RESPONSE],
                }
            )
            # A stream (the live hits) ends when the user leaves: stop reading the service then.
            relay = asyncio.create_task(_relay(answer, send))
            gone = asyncio.create_task(_disconnected(receive)) if scope["method"] == "GET" else None
            waiting = {relay} | ({gone} if gone else set())
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in waiting:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if relay.done() and not relay.cancelled():
                relay.result()
        finally:
            await answer.aclose()


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _relay(answer: httpx.Response, send: Send) -> None:
    async for chunk in answer.aiter_raw():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _unavailable(send: Send, detail: str) -> None:
    body = (
        b'{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"'
        + detail.replace('"', "'").encode()
        + b'"}'
    )
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"content-type", b"application/problem+json"), (b"retry-after", b"5")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def over_http(urls: Mapping[str, str], client: httpx.AsyncClient) -> dict[str, Upstream]:
    return {name: OverHttp(url, client) for name, url in urls.items()}


def in_process(apps: Mapping[str, ASGIApp]) -> dict[str, Upstream]:
    return {name: InProcess(app) for name, app in apps.items()}
