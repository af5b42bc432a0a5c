"""The console's own routes: its page, its public configuration, signing in and out, the session."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel, Field

from anpr_console import handlers
from anpr_console.domain.session import Session, SessionError
from anpr_console.entrypoints.deps import FromThePage, SignedIn, State
from anpr_console.entrypoints.state import ATTEMPT_COOKIE, ATTEMPT_TTL_S, SESSION_COOKIE, ConsoleState
from anpr_core.auth import Role
from anpr_core.problems import Problem

router = APIRouter(tags=["console"])
CALLBACK_PATH = "/console/v1/sign-in/oidc/callback"


class DevSignIn(BaseModel):
    role: Role
    subject: str = Field(default="", max_length=100, pattern=r"^[A-Za-z0-9._@-]*$")
    locale: str | None = Field(default=None, max_length=35)


class LocaleIn(BaseModel):
    locale: str = Field(max_length=8)


@router.get("/", include_in_schema=False)
async def page(state: State) -> FileResponse:
    return FileResponse(
        state.static_dir / "index.html",
        headers={
            "Content-Security-Policy": state.content_security_policy,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/console/v1/config")
async def config(state: State) -> dict[str, Any]:
    """What the sign-in page and the map need before anyone signs in: no secret, no data."""
    return state.public_config


@router.get("/console/v1/session")
async def session(signed_in: SignedIn) -> dict[str, Any]:
    """The signed-in user (never their token), the pages and actions their role has."""
    return signed_in.view()


@router.put("/console/v1/session/locale", dependencies=[FromThePage])
async def choose_locale(
    body: LocaleIn, signed_in: SignedIn, state: State, response: Response
) -> dict[str, Any]:
    try:
        changed = signed_in.speaking(body.locale)
    except SessionError as error:
        raise Problem(422, "Unprocessable Content", str(error)) from error
    _set_session(response, state, changed)
    return changed.view()


@router.post("/console/v1/sign-in/dev", dependencies=[FromThePage])
async def sign_in_for_development(
    body: DevSignIn, request: Request, state: State, response: Response
) -> dict[str, Any]:
    """Development only (refused in production, like `anpr dev-token`): sign in as the role picked."""
    try:
        signed_in = await handlers.sign_in_for_development(
            state.sign_in,
            body.role,
            body.subject or f"dev-{body.role.value}",
            body.locale or request.headers.get("accept-language"),
        )
    except handlers.SignInRefused as refused:
        raise Problem(refused.status, "Sign-in refused", refused.detail) from refused
    _set_session(response, state, signed_in)
    return signed_in.view()


@router.get("/console/v1/sign-in/oidc", response_class=RedirectResponse, status_code=302)
async def sign_in_with_oidc(
    request: Request, state: State, return_to: Annotated[str, Query(max_length=200)] = "/"
) -> RedirectResponse:
    """Sends the user to the zone's identity provider (authorization code flow with PKCE, S256)."""
    try:
        attempt, url = await handlers.begin_oidc_sign_in(state.sign_in, _callback(request, state), return_to)
    except handlers.SignInRefused as refused:
        raise Problem(refused.status, "Sign-in refused", refused.detail) from refused
    answer = RedirectResponse(url, status_code=302)
    answer.set_cookie(
        ATTEMPT_COOKIE,
        state.seal_attempt(attempt),
        max_age=ATTEMPT_TTL_S,
        httponly=True,
        secure=state.secure_cookies,
        samesite="lax",  # the provider's redirect back is a top-level navigation from its site
        path="/console/v1/sign-in/oidc",
    )
    return answer


@router.get(CALLBACK_PATH, response_class=RedirectResponse, status_code=302)
async def oidc_callback(
    request: Request,
    state: State,
    code: Annotated[str, Query(max_length=2048)] = "",
    state_: Annotated[str, Query(alias="state", max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> RedirectResponse:
    attempt = state.read_attempt(request.cookies.get(ATTEMPT_COOKIE))
    try:
        if error:
            raise handlers.SignInRefused(401, f"the identity provider answered: {error}")
        signed_in = await handlers.finish_oidc_sign_in(
            state.sign_in,
            attempt,
            state_,
            code,
            _callback(request, state),
            request.headers.get("accept-language", ""),
        )
    except handlers.SignInRefused as refused:
        answer = RedirectResponse(f"/?sign_in_error={quote(refused.detail)}", status_code=302)
    else:
        answer = RedirectResponse(attempt.return_to if attempt else "/", status_code=302)
        _set_session(answer, state, signed_in)
    answer.delete_cookie(ATTEMPT_COOKIE, path="/console/v1/sign-in/oidc")
    return answer


@router.post("/console/v1/sign-out", status_code=204, dependencies=[FromThePage])
async def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def _set_session(response: Response, state: ConsoleState, signed_in: Session) -> None:
    value, max_age = state.seal_session(signed_in)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        secure=state.secure_cookies,
        samesite="strict",
        path="/",
    )


def _callback(request: Request, state: ConsoleState) -> str:
    base = state.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH
