"""Operator authentication (OIDC bearer tokens) and the role x action authorisation table.

Tokens are verified against a JWKS (audience, issuer, expiry). For development and tests a
local issuer signs with an Ed25519 key kept outside the repository; production settings refuse it.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Request

from anpr_core.problems import Problem
from anpr_core.settings import CoreSettings

DEV_ISSUER = "schild-dev-issuer"


class Role(StrEnum):
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    DPO = "dpo"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Action(StrEnum):
    VIEW_HITS = "view_hits"
    ACK_HIT = "ack_hit"
    SEARCH_PASSAGES = "search_passages"
    VIEW_IMAGE = "view_image"
    MANAGE_HOTLIST = "manage_hotlist"
    VIEW_HOTLIST = "view_hotlist"
    MANAGE_CAMERAS = "manage_cameras"
    VIEW_CAMERAS = "view_cameras"
    READ_AUDIT = "read_audit"
    VERIFY_AUDIT = "verify_audit"
    DPO_REQUESTS = "dpo_requests"
    VIEW_STATS = "view_stats"
    TRY_READER = "try_reader"
    MANAGE_HOLDS = "manage_holds"
    RUN_RETENTION = "run_retention"
    MANAGE_AGREEMENTS = "manage_agreements"
    VIEW_AGREEMENTS = "view_agreements"


# Who may do what. Kept as one table so it can be reviewed, and tested, as a whole.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_HITS: frozenset({Role.OPERATOR, Role.INVESTIGATOR, Role.SUPERVISOR}),
    Action.ACK_HIT: frozenset({Role.OPERATOR, Role.SUPERVISOR}),
    Action.SEARCH_PASSAGES: frozenset({Role.INVESTIGATOR}),
    Action.VIEW_IMAGE: frozenset({Role.INVESTIGATOR}),
    Action.MANAGE_HOTLIST: frozenset({Role.SUPERVISOR, Role.INVESTIGATOR}),
    Action.VIEW_HOTLIST: frozenset({Role.OPERATOR, Role.INVESTIGATOR, Role.SUPERVISOR}),
    Action.MANAGE_CAMERAS: frozenset({Role.ADMIN}),
    Action.VIEW_CAMERAS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Action.READ_AUDIT: frozenset({Role.AUDITOR}),
    Action.VERIFY_AUDIT: frozenset({Role.AUDITOR, Role.ADMIN, Role.DPO}),
    Action.DPO_REQUESTS: frozenset({Role.DPO}),
    Action.VIEW_STATS: frozenset({Role.SUPERVISOR, Role.ADMIN, Role.DPO}),
    Action.TRY_READER: frozenset({Role.OPERATOR, Role.INVESTIGATOR, Role.SUPERVISOR, Role.ADMIN}),
    # Legal holds are decisions of a supervisor or the DPO; the retention run is an admin's.
    Action.MANAGE_HOLDS: frozenset({Role.SUPERVISOR, Role.DPO}),
    Action.RUN_RETENTION: frozenset({Role.ADMIN}),
    # Sharing agreements with neighbour zones: an admin makes, changes and revokes them; the
    # supervisor and the DPO, who answer for what is disclosed, read them.
    Action.MANAGE_AGREEMENTS: frozenset({Role.ADMIN}),
    Action.VIEW_AGREEMENTS: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.DPO}),
}


def allowed(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action]


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    zone_id: str
    claims: dict[str, Any] = field(default_factory=dict)


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


def _principal_from_claims(claims: dict[str, Any]) -> Principal:
    role_claim = claims.get("role")
    try:
        role = Role(str(role_claim))
    except ValueError as error:
        raise Problem(403, "Forbidden", f"token carries no known role (got {role_claim!r})") from error
    return Principal(
        subject=str(claims["sub"]), role=role, zone_id=str(claims.get("zone", "")), claims=claims
    )


def _decode(token: str, key: Any, algorithms: list[str], issuer: str, audience: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise Problem(401, "Unauthorized", "the token has expired", headers=_challenge()) from error
    except jwt.InvalidIssuerError as error:
        raise Problem(
            401, "Unauthorized", "the token is from an issuer we do not trust", headers=_challenge()
        ) from error
    except jwt.InvalidAudienceError as error:
        raise Problem(
            401, "Unauthorized", "the token is not meant for this service", headers=_challenge()
        ) from error
    except jwt.PyJWTError as error:
        raise Problem(401, "Unauthorized", f"invalid token: {error}", headers=_challenge()) from error
    return claims


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="schild"'}


class JwksTokenVerifier:
    """Verifies tokens of a production OIDC provider against its published keys."""

    def __init__(self, issuer: str, audience: str, jwks_url: str) -> None:
        self._issuer = issuer
        self._audience = audience
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)

    async def verify(self, token: str) -> Principal:
        try:
            signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWTError as error:
            raise Problem(
                401, "Unauthorized", f"cannot find the token's key: {error}", headers=_challenge()
            ) from error
        claims = _decode(token, signing_key.key, ["RS256", "ES256", "EdDSA"], self._issuer, self._audience)
        return _principal_from_claims(claims)


class DevIssuer:
    """The local development issuer: signs and verifies EdDSA tokens with a key file.

    The key is created on first use with mode 0600, outside the repository (var/ is ignored).
    """

    def __init__(self, key_path: Path, audience: str = "schild") -> None:
        self._audience = audience
        self._key = self._load_or_create(key_path)
        self._public: Ed25519PublicKey = self._key.public_key()

    @staticmethod
    def _load_or_create(path: Path) -> Ed25519PrivateKey:
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} is not an Ed25519 private key")
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Create exclusively so two services starting together do not overwrite each other's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return DevIssuer._load_or_create(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        return key

    def issue(self, subject: str, role: Role, zone_id: str = "5344", ttl_s: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": DEV_ISSUER,
            "aud": self._audience,
            "sub": subject,
            "role": role.value,
            "zone": zone_id,
            "iat": now,
            "exp": now + ttl_s,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")

    async def verify(self, token: str) -> Principal:
        claims = _decode(token, self._public, ["EdDSA"], DEV_ISSUER, self._audience)
        return _principal_from_claims(claims)


def build_verifier(settings: CoreSettings) -> TokenVerifier:
    if settings.oidc_jwks_url and settings.oidc_issuer:
        return JwksTokenVerifier(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)
    # CoreSettings refuses production without OIDC, so this is development only.
    return DevIssuer(settings.resolved_dev_key_path(), settings.oidc_audience)


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "Unauthorized", "a bearer token is required", headers=_challenge())
    return await _verifier(request).verify(token.strip())


class RefusalRecorder(Protocol):
    async def refused(self, actor: Principal | None, action: str, detail: str, path: str) -> None: ...


async def _record_refusal(request: Request, actor: Principal | None, action: Action, detail: str) -> None:
    # A refused attempt is audited too, so the supervisor sees who tried what.
    recorder: RefusalRecorder | None = getattr(request.app.state, "refusal_recorder", None)
    if recorder is not None:
        await recorder.refused(actor, action.value, detail, request.url.path)


def require(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency that authenticates and checks the role table for `action`."""

    async def dependency(request: Request) -> Principal:
        try:
            principal = await current_principal(request)
        except Problem as unauthenticated:
            await _record_refusal(request, None, action, unauthenticated.detail)
            raise
        if not allowed(principal.role, action):
            forbidden = Problem(
                403,
                "Forbidden",
                f"role {principal.role.value} may not {action.value.replace('_', ' ')}",
            )
            await _record_refusal(request, principal, action, forbidden.detail)
            raise forbidden
        # A token is bound to its zone: another zone's staff see nothing of ours here (what a
        # sharing agreement allows reaches them over their zone topics, not this API).
        zone_id: str | None = getattr(request.app.state, "zone_id", None)
        if zone_id is None or principal.zone_id != zone_id:
            other_zone = Problem(
                403,
                "Forbidden",
                f"the token is for zone {principal.zone_id or '(none)'}; this service serves zone "
                f"{zone_id or '(unset)'} only",
            )
            await _record_refusal(request, principal, action, other_zone.detail)
            raise other_zone
        return principal

    # The action travels with the dependency, so each route's OpenAPI names its roles (anpr_core.openapi).
    dependency.required_action = action  # type: ignore[attr-defined]
    return dependency
