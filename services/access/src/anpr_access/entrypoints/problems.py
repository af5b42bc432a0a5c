"""Each domain refusal answered as problem+json with its status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from anpr_access.domain.errors import Conflict, NotFound, Refused
from anpr_access.domain.legal import OutOfReach, SearchRefused
from anpr_core.problems import Problem, problem_response

SEARCH_REFUSED = "urn:schild:search-refused"


def problem_for(refusal: Refused) -> Problem:
    status = 422
    if isinstance(refusal, NotFound):
        status = 404
    elif isinstance(refusal, Conflict):
        status = 409
    elif isinstance(refusal, OutOfReach):
        # Asking for data the law keeps out of reach is forbidden; an incomplete request is invalid.
        status = 403
    problem_type = SEARCH_REFUSED if isinstance(refusal, SearchRefused) else "about:blank"
    return Problem(status, refusal.title, refusal.detail, problem_type=problem_type, **refusal.extensions)


async def _answer(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, Refused):  # pragma: no cover - registered for Refused only
        raise error
    return problem_response(problem_for(error), request.url.path)


def install_refusal_answers(app: FastAPI) -> None:
    app.add_exception_handler(Refused, _answer)
