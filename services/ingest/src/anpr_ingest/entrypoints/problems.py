"""How each refusal of ingest's domain is answered: problem+json, with the status, title and type a
camera or an admin has always been given for it."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from anpr_core.problems import RETRY_AFTER_S, Problem, problem_response
from anpr_ingest.domain.cameras import StatusChangeRefused
from anpr_ingest.domain.errors import (
    CameraChallenged,
    CameraExists,
    CameraNotFound,
    CameraRetired,
    CredentialOfAnotherCamera,
    IngestRefusal,
    InvalidCameraChange,
    NoCameraKey,
    NotASmartCamera,
    NotThisVendor,
    RejectedFrame,
    Unavailable,
    UnknownCamera,
    WrongCameraKey,
)
from anpr_ingest.domain.vendors import MalformedPayload

_ANSWERS: dict[type[IngestRefusal], tuple[int, str]] = {
    CameraNotFound: (404, "Not Found"),
    CameraExists: (409, "Conflict"),
    StatusChangeRefused: (409, "Conflict"),
    InvalidCameraChange: (422, "Invalid request"),
    NoCameraKey: (401, "Unauthorized"),
    WrongCameraKey: (401, "Unauthorized"),
    UnknownCamera: (404, "Unknown camera"),
    CameraRetired: (403, "Forbidden"),
    NotASmartCamera: (403, "Forbidden"),
    CameraChallenged: (401, "Unauthorized"),
    CredentialOfAnotherCamera: (403, "Forbidden"),
    NotThisVendor: (403, "Forbidden"),
}


def problem_for(refusal: IngestRefusal) -> Problem:
    if isinstance(refusal, RejectedFrame):
        return Problem(
            refusal.status, "Frame rejected", str(refusal), problem_type=f"urn:schild:frame:{refusal.reason}"
        )
    if isinstance(refusal, MalformedPayload):
        # Kept for the operator as a dead letter before this answer (handlers.vendors).
        return Problem(
            refusal.status, "Push refused", str(refusal), problem_type=f"urn:schild:vendor:{refusal.reason}"
        )
    if isinstance(refusal, Unavailable):
        # A dependency (the broker, the database) did not answer; it will again.
        return Problem(
            503,
            "Service Unavailable",
            str(refusal),
            problem_type="urn:schild:unavailable",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            **refusal.extensions,
        )
    for kind in type(refusal).__mro__:
        if kind in _ANSWERS:
            status, title = _ANSWERS[kind]
            return Problem(status, title, str(refusal))
    return Problem(422, "Invalid request", str(refusal))


async def answer_refusal(request: Request, exc: Exception) -> JSONResponse:
    """The app's exception handler for IngestRefusal."""
    if not isinstance(exc, IngestRefusal):  # pragma: no cover - registered for IngestRefusal only
        raise exc
    response = problem_response(problem_for(exc), request.url.path)
    if isinstance(exc, CameraChallenged):
        # One WWW-Authenticate per scheme: cameras read the first they know, not a list in one header.
        for challenge in exc.challenges:
            response.headers.append("WWW-Authenticate", challenge)
    return response
