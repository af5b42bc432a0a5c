"""RFC 9457 problem details: every error a client sees is application/problem+json."""

from __future__ import annotations

import logging
import socket
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from anpr_core.bus.base import BusUnavailable

PROBLEM_JSON = "application/problem+json"
# How long a client waits before it sends again after a 503 (a broker or database failing over).
RETRY_AFTER_S = 5
_log = logging.getLogger(__name__)


class Problem(Exception):  # noqa: N818 - a Problem is what the client receives, not an "Error"
    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        *,
        problem_type: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.problem_type = problem_type
        self.headers = headers or {}
        self.extensions = extensions

    def body(self, instance: str = "") -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.problem_type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


def problem_response(problem: Problem, instance: str = "") -> JSONResponse:
    return JSONResponse(
        problem.body(instance), status_code=problem.status, media_type=PROBLEM_JSON, headers=problem.headers
    )


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, Problem):  # pragma: no cover - registered for Problem only
            raise exc
        return problem_response(exc, request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
            raise exc
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(
            Problem(exc.status_code, _title(exc.status_code), str(exc.detail), headers=headers),
            request.url.path,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, RequestValidationError):  # pragma: no cover
            raise exc
        return problem_response(validation_problem(exc), request.url.path)

    async def on_dependency_failure(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(dependency_problem(exc), request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    # The broker or the database failing reaches the client as 503 problem+json with Retry-After,
    # never as a plain-text 500, on every route of every service.
    for failure in (sa_exc.SQLAlchemyError, OSError, BusUnavailable):
        app.add_exception_handler(failure, on_dependency_failure)


# SQLSTATE classes of failures that pass: connection exceptions, insufficient resources (too many
# connections), operator intervention (shutdown, starting up), serialization failure and deadlock.
_TRANSIENT_SQLSTATES = ("08", "53", "57P", "40001", "40P01")


def is_transient(error: BaseException) -> bool:
    """Whether `error` means a dependency (Kafka, PostgreSQL) is away or busy, so the same request
    may succeed later: connection refused or reset, timeouts, a pool timeout, a dropped connection."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(
            current,
            BusUnavailable
            | ConnectionError
            | TimeoutError
            | socket.gaierror
            | sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.DisconnectionError
            | sa_exc.TimeoutError,
        ):
            return True
        if type(current) is OSError:  # a socket failure (host unreachable, several addresses failed)
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if str(getattr(current, "sqlstate", "") or "").startswith(_TRANSIENT_SQLSTATES):
            return True
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return False


def dependency_problem(error: BaseException) -> Problem:
    """503 with Retry-After for a transient failure of the broker or the database; any other
    failure of theirs is a 500, still problem+json, and logged with its traceback."""
    if is_transient(error):
        _log.warning("a dependency did not answer: %s", error)
        return Problem(
            503,
            "Service Unavailable",
            "a service this request needs (the database or the broker) did not answer; "
            "send it again after Retry-After",
            problem_type="urn:schild:unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    _log.error("request failed", exc_info=error)
    return Problem(500, "Internal Server Error", "the request failed on our side; it is logged")


def validation_problem(exc: RequestValidationError) -> Problem:
    """A 422 that names each invalid field, as FastAPI's own validation would report it."""
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
    return Problem(422, "Invalid request", summary, errors=errors)


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
