"""Cookies the page cannot read or forge: JSON sealed with AES-GCM under the console's session key.

The user's token travels inside the session cookie (HttpOnly, SameSite=Strict), so no script on the
page, an injected one included, can take it; each kind of cookie is sealed with its own purpose so
one cannot stand for another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Unreadable(ValueError):
    """A cookie that is not one this console sealed (or sealed under another key or purpose)."""


class Sealer:
    def __init__(self, secret: str | None) -> None:
        # No secret (development): a random key, so sessions end when the process does.
        key = hashlib.sha256(secret.encode()).digest() if secret else AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(key)

    def seal(self, record: dict[str, Any], purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(
            nonce, json.dumps(record, separators=(",", ":")).encode(), purpose.encode()
        )
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")

    def unseal(self, text: str, purpose: str) -> dict[str, Any]:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            opened = self._aead.decrypt(raw[:12], raw[12:], purpose.encode())
            record = json.loads(opened)
        except (ValueError, InvalidTag) as error:
            raise Unreadable(f"the {purpose} cookie cannot be read") from error
        if not isinstance(record, dict):
            raise Unreadable(f"the {purpose} cookie cannot be read")
        return record
