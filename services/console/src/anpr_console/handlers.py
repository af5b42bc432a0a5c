"""Signing in: with the zone's identity provider (authorization code, PKCE), or in development with
a role picked on the page and a token of the development issuer (refused in production)."""

from __future__ import annotations

from dataclasses import dataclass

from anpr_console.adapters.oidc import OidcClient, ProviderError
from anpr_console.domain.locales import negotiate
from anpr_console.domain.pkce import Attempt, new_attempt
from anpr_console.domain.session import Session, SessionError
from anpr_core.auth import DevIssuer, Role, TokenVerifier
from anpr_core.problems import Problem

DEV_TOKEN_TTL_S = 8 * 3600  # a shift


class SignInRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class SignInPorts:
    verifier: TokenVerifier
    zone_id: str
    dev_issuer: DevIssuer | None  # None in production: the development sign-in is refused
    oidc: OidcClient | None  # None where no identity provider is configured


async def _session(ports: SignInPorts, token: str, *locales: str | None) -> Session:
    try:
        principal = await ports.verifier.verify(token)
    except Problem as refused:
        raise SignInRefused(401, f"the token was refused: {refused.detail}") from refused
    try:
        return Session.of(principal, token, negotiate(*locales))
    except SessionError as error:
        raise SignInRefused(401, str(error)) from error


async def sign_in_for_development(
    ports: SignInPorts, role: Role, subject: str, locale: str | None
) -> Session:
    if ports.dev_issuer is None:
        raise SignInRefused(
            403, "the development sign-in is refused in production: sign in with the zone's OIDC"
        )
    token = ports.dev_issuer.issue(subject, role, ports.zone_id, DEV_TOKEN_TTL_S)
    return await _session(ports, token, locale)


async def begin_oidc_sign_in(ports: SignInPorts, redirect_uri: str, return_to: str) -> tuple[Attempt, str]:
    if ports.oidc is None:
        raise SignInRefused(
            404, "no identity provider is configured (ANPR_OIDC_ISSUER, ANPR_CONSOLE_OIDC_CLIENT_ID)"
        )
    attempt = new_attempt(return_to)
    try:
        return attempt, await ports.oidc.authorization_url(attempt, redirect_uri)
    except ProviderError as error:
        raise SignInRefused(503, str(error)) from error


async def finish_oidc_sign_in(
    ports: SignInPorts,
    attempt: Attempt | None,
    state: str,
    code: str,
    redirect_uri: str,
    accept_language: str,
) -> Session:
    if ports.oidc is None:
        raise SignInRefused(404, "no identity provider is configured")
    if attempt is None or state != attempt.state:
        raise SignInRefused(400, "this sign-in was not started here, or has expired: sign in again")
    try:
        tokens = await ports.oidc.exchange(code, attempt, redirect_uri)
    except ProviderError as error:
        raise SignInRefused(401, str(error)) from error
    locale = tokens.id_claims.get("locale")
    return await _session(
        ports, tokens.access_token, locale if isinstance(locale, str) else None, accept_language
    )
