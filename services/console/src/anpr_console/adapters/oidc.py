"""The zone's identity provider: discovery, the authorization URL (code flow, PKCE S256) and the
exchange of the code for tokens at the token endpoint."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from anpr_console.domain.pkce import Attempt, challenge


class ProviderError(RuntimeError):
    """The identity provider did not answer as OIDC says, or refused the code."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_claims: dict[str, Any]


class OidcClient:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str | None,
        scopes: str,
        http: httpx.AsyncClient,
    ) -> None:
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._http = http
        self._endpoints: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def _discovered(self) -> dict[str, Any]:
        async with self._lock:
            if self._endpoints is None:
                url = f"{self._issuer}/.well-known/openid-configuration"
                try:
                    answer = await self._http.get(url, timeout=10.0)
                    answer.raise_for_status()
                    self._endpoints = dict(answer.json())
                except (httpx.HTTPError, ValueError) as error:
                    raise ProviderError(
                        f"the identity provider's discovery ({url}) failed: {error}"
                    ) from error
            return self._endpoints

    async def authorization_url(self, attempt: Attempt, redirect_uri: str) -> str:
        endpoint = (await self._discovered()).get("authorization_endpoint")
        if not isinstance(endpoint, str):
            raise ProviderError("the identity provider names no authorization_endpoint")
        query = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": redirect_uri,
            "scope": self._scopes,
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": challenge(attempt.verifier),
            "code_challenge_method": "S256",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def exchange(self, code: str, attempt: Attempt, redirect_uri: str) -> Tokens:
        endpoint = (await self._discovered()).get("token_endpoint")
        if not isinstance(endpoint, str):
            raise ProviderError("the identity provider names no token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self._client_id,
            "code_verifier": attempt.verifier,
        }
        # A confidential client also authenticates (client_secret_basic); a public one has PKCE alone.
        auth: httpx.Auth = (
            httpx.BasicAuth(self._client_id, self._client_secret) if self._client_secret else httpx.Auth()
        )
        try:
            answer = await self._http.post(endpoint, data=form, auth=auth, timeout=10.0)
        except httpx.HTTPError as error:
            raise ProviderError(f"the token endpoint did not answer: {error}") from error
        if answer.status_code != 200:
            raise ProviderError(f"the identity provider refused the code ({answer.status_code})")
        body = answer.json()
        access_token = body.get("access_token")
        if not isinstance(access_token, str):
            raise ProviderError("the identity provider gave no access token")
        id_claims: dict[str, Any] = {}
        id_token = body.get("id_token")
        if isinstance(id_token, str):
            # Received straight from the token endpoint over TLS (OIDC Core 3.1.3.7): its signature
            # needs no check here; the access token, which the services trust, is verified by the caller.
            id_claims = jwt.decode(id_token, options={"verify_signature": False})
            if id_claims.get("nonce") != attempt.nonce:
                raise ProviderError("the ID token's nonce is not this sign-in's")
        return Tokens(access_token, id_claims)
