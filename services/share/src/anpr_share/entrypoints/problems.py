"""Each refused command answered as problem+json, with the status of its domain refusal."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from anpr_core.problems import Problem, problem_response
from anpr_share.domain.errors import ShareRefusal


def install_refusal_answers(app: FastAPI) -> None:
    async def on_refusal(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, ShareRefusal):  # pragma: no cover - registered for ShareRefusal only
            raise exc
        return problem_response(Problem(exc.status, exc.title, exc.detail), request.url.path)

    app.add_exception_handler(ShareRefusal, on_refusal)
