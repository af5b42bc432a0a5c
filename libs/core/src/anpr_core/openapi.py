"""What every service's OpenAPI says beyond FastAPI's defaults: the problem+json answers a route can
give (401 to 503), who may call it (bearer token, roles), and Server-Sent Events as text/event-stream.

Documented in one place, from the routes themselves, so a client (or a fuzzer) meets no answer the
description does not name.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute, iter_route_contexts

from anpr_core.auth import PERMISSIONS, Action
from anpr_core.problems import PROBLEM_JSON

EVENT_STREAM = "text/event-stream"
BEARER_SCHEME = "bearer"
CAMERA_KEY_HEADER = "x-camera-key"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "422: each invalid field, as FastAPI's validation reports it.",
            "type": "array",
            "items": {"type": "object"},
        },
    },
    "additionalProperties": True,
}

# Why a route may give each common answer.
_WHY: dict[int, str] = {
    400: "The body could not be parsed (e.g. broken multipart).",
    401: "No credential, or one that is invalid or expired.",
    403: "The credential is valid but may not do this (role, zone or camera).",
    404: "What the path names does not exist.",
    409: "The request conflicts with the current state (already done, already exists).",
    413: "The body is larger than this service accepts.",
    415: "The body's media type is not one this route accepts.",
    422: "A parameter or the body is invalid; `errors` names each field.",
    503: "A dependency (broker, database, model) is unavailable for now: not done, send it again "
    "after Retry-After.",
}
_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


class EventStreamResponse(StreamingResponse):
    """A Server-Sent Events stream: documented, and answered, as text/event-stream, never cached."""

    media_type = EVENT_STREAM

    def __init__(
        self, content: AsyncIterable[str], status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(
            content,
            status_code=status_code,
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", **(headers or {})},
        )


def event_stream_route(description: str) -> dict[str, Any]:
    """Keyword arguments for a route decorator whose answer is an SSE stream, e.g.
    `@router.get("/hits/stream", **event_stream_route("event: hit, data: the hit as JSON"))`."""
    return {
        "response_class": EventStreamResponse,
        "responses": {
            200: {
                "description": description,
                "content": {EVENT_STREAM: {"schema": {"type": "string", "description": description}}},
            }
        },
    }


def document_answers(app: FastAPI) -> None:
    """Adds the common answers, security and roles to `app`'s OpenAPI each time FastAPI builds it."""
    generate = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's own, cached until a route is added
        if not documented or documented[0] is not schema:
            _document(schema, _roles_by_operation(app))
            documented[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(schema: dict[str, Any], roles: dict[tuple[str, str], list[str]]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            operation_roles = roles.get((path, method.upper()))
            if operation_roles is not None:
                operation["security"] = [{BEARER_SCHEME: []}]
                operation["x-roles"] = operation_roles
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in _answers(operation, method.upper(), bearer=operation_roles is not None):
                _document_problem(responses, status)
            streamed = responses.get("200", {}).get("content", {})
            if EVENT_STREAM in streamed:
                streamed.pop("application/json", None)
    if roles:
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An OIDC access token; `x-roles` on each operation names the roles it serves.",
        }
    if not _references(schema.get("paths", {}), _FASTAPI_VALIDATION_REF):
        components["schemas"].pop("HTTPValidationError", None)
        components["schemas"].pop("ValidationError", None)


def _roles_by_operation(app: FastAPI) -> dict[tuple[str, str], list[str]]:
    """(path, METHOD) -> the roles that may call it, for every route guarded by auth.require."""
    roles: dict[tuple[str, str], list[str]] = {}
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path_format is None:
            continue
        actions = set(_required_actions(route.dependant))
        if not actions:
            continue
        allowed = sorted(role.value for role in set.intersection(*(set(PERMISSIONS[a]) for a in actions)))
        for method in route.methods or ():
            roles[(route.path_format, method)] = allowed
    return roles


def _answers(operation: dict[str, Any], method: str, *, bearer: bool) -> Iterator[int]:
    parameters = operation.get("parameters", [])
    locations = {parameter.get("in") for parameter in parameters}
    headers = {
        parameter.get("name", "").lower() for parameter in parameters if parameter.get("in") == "header"
    }
    body = "requestBody" in operation
    camera = CAMERA_KEY_HEADER in headers
    if bearer or camera:
        yield from (401, 403)
    if "path" in locations or camera:
        yield 404  # what the path names, or the camera a call names, is unknown
    if method in ("POST", "PUT", "PATCH", "DELETE"):
        yield 409
    if body:
        yield from (400, 413, 415)
    if body or parameters:
        yield 422
    yield 503


def _document_problem(responses: dict[str, Any], status: int) -> None:
    key = str(status)
    existing = responses.get(key)
    if existing is not None and not _is_fastapi_validation(existing) and existing.get("content"):
        return  # the route documents this answer itself
    described = (existing or {}).get("description")
    answer: dict[str, Any] = {
        "description": described if described and described != "Validation Error" else _WHY[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if status == 503:
        answer["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before sending it again.",
                "schema": {"type": "integer"},
            }
        }
    responses[key] = answer


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref") == _FASTAPI_VALIDATION_REF)


def _required_actions(dependant: Dependant) -> Iterator[Action]:
    for sub in dependant.dependencies:
        action = getattr(sub.call, "required_action", None)
        if isinstance(action, Action):
            yield action
        yield from _required_actions(sub)


def _references(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_references(value, ref) for value in node.values())
    if isinstance(node, list):
        return any(_references(value, ref) for value in node)
    return False
