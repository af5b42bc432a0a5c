"""OAuth 2.0 PKCE (RFC 7636, S256) and the state that ties a callback to the sign-in that began it."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Attempt:
    """One sign-in under way: kept (sealed) in a short-lived cookie until the provider calls back."""

    state: str
    verifier: str
    nonce: str
    return_to: str


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_attempt(return_to: str = "/") -> Attempt:
    # 64 random bytes give a 86-character verifier, within RFC 7636's 43..128.
    return Attempt(
        state=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(64),
        nonce=secrets.token_urlsafe(24),
        return_to=return_to if return_to.startswith("/") and not return_to.startswith("//") else "/",
    )
