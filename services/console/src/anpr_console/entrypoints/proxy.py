"""/console/api/<service>/v1/...: the services' REST APIs, called with the signed-in user's token.

The page never holds the token: the session cookie carries it sealed, and this pass-through puts it
on the request as the bearer. Nothing else is added and nothing is checked here but the session:
the service answers as it answers curl with that token, and audits the call as the user's.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from anpr_console.adapters.upstreams import with_bearer
from anpr_console.domain.session import SessionError
from anpr_console.entrypoints.state import CSRF_HEADER, SESSION_COOKIE, ConsoleState
from anpr_core.http_metrics import RouteTemplate
from anpr_core.problems import PROBLEM_JSON

PREFIX = "/console/api/"
_SAFE = {"GET", "HEAD", "OPTIONS"}


class ApiPassThrough:
    """ASGI middleware in front of the console's routes, so that bodies stream both ways."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _own_path(scope)
        if scope["type"] != "http" or not path.startswith(PREFIX):
            await self._app(scope, receive, send)
            return
        state: ConsoleState = scope["app"].state.console
        service, _, rest = path[len(PREFIX) :].partition("/")
        upstream = state.upstreams.get(service)
        if upstream is None or not rest.startswith("v1/"):
            await _problem(send, 404, "Not Found", f"no service API at {path}")
            return
        scope["route"] = RouteTemplate(f"{PREFIX}{service}/{{path}}")  # one series per service
        headers = dict(scope["headers"])
        if scope["method"] not in _SAFE and headers.get(CSRF_HEADER.encode()) != b"1":
            await _problem(
                send, 403, "Forbidden", f"send the {CSRF_HEADER} header, as the console's page does"
            )
            return
        try:
            session = state.read_session(_cookies(headers.get(b"cookie", b"")))
        except SessionError as error:
            await _problem(send, 401, "Unauthorized", str(error))
            return
        forwarded = {
            **scope,
            "path": f"/{rest}",
            "raw_path": f"/{rest}".encode(),
            "root_path": "",
            "headers": with_bearer(list(scope["headers"]), session.token),
        }
        await upstream.forward(forwarded, receive, send)


def _own_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _cookies(header: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            found[name] = value
    return found


async def _problem(send: Send, status: int, title: str, detail: str) -> None:
    import json

    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="schild"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
