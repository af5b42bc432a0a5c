"""Each refused command answered as problem+json: the domain's errors mapped to their status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from anpr_core.problems import RETRY_AFTER_S, Problem, problem_response
from anpr_match.domain.errors import Conflict, Invalid, MatchError, NotFound, OwnedElsewhere, Unavailable

STATUS: dict[type[MatchError], int] = {
    NotFound: 404,
    Conflict: 409,
    OwnedElsewhere: 409,
    Invalid: 422,
    Unavailable: 503,
}


def problem_of(error: MatchError) -> Problem:
    status = next(code for kind, code in STATUS.items() if isinstance(error, kind))
    headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None
    return Problem(status, error.title, error.detail, headers=headers, **error.extensions)


def install_error_answers(app: FastAPI) -> None:
    async def on_refusal(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, MatchError):  # pragma: no cover - registered for MatchError only
            raise exc
        return problem_response(problem_of(exc), request.url.path)

    app.add_exception_handler(MatchError, on_refusal)
