"""How a vendor camera proves it is itself: HTTP Basic or Digest (RFC 7617, RFC 7616) with its camera
id as the user and its key as the password, or the key alone (a header, or the path) for cameras that
can do neither. No I/O.

Keys are kept as SHA-256 hashes, which Basic and the key alone are checked against. Digest never sends
the key, only a hash made with H(camera:realm:key) (its "HA1"), so that HA1 is kept as well, made when
the key is made (registration, rotation) and cleared with it (revocation): MD5 for the cameras that
know no other, SHA-256 for those that do. What that costs is in the README (Cameras of other vendors).

Nonces are stateless, so that any replica checks any nonce: the time they were made and random bytes.
The response hash covers the nonce, so a made-up nonce is useless without HA1; a nonce past its
lifetime is answered with a fresh challenge (stale=true).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

REALM = "schild-ingest"
NONCE_LIFETIME_S = 300.0
_NONCE_CLOCK_LEEWAY_MS = 5_000


@dataclass(frozen=True)
class BasicCredential:
    user: str
    password: str


@dataclass(frozen=True)
class DigestCredential:
    """The Authorization: Digest parameters, with the request's method."""

    params: Mapping[str, str]
    method: str

    @property
    def user(self) -> str:
        return self.params.get("username", "")


@dataclass(frozen=True)
class KeyCredential:
    """The key alone (X-Camera-Key, or the path): the camera is the one the path names."""

    key: str


Credential = BasicCredential | DigestCredential | KeyCredential


@dataclass(frozen=True)
class DigestSecrets:
    """What the register keeps of a key: its SHA-256, and its Digest HA1s (empty: none)."""

    api_key_hash: str
    ha1_md5: str
    ha1_sha256: str

    @classmethod
    def revoked(cls) -> DigestSecrets:
        return cls("", "", "")


def secrets_of(camera_id: str, key: str) -> DigestSecrets:
    return DigestSecrets(
        api_key_hash=hashlib.sha256(key.encode()).hexdigest(),
        ha1_md5=ha1_of("MD5", camera_id, REALM, key),
        ha1_sha256=ha1_of("SHA-256", camera_id, REALM, key),
    )


_AUTH_PARAM = re.compile(r'([\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)')


def parse_authorization(header: str | None, method: str) -> BasicCredential | DigestCredential | None:
    """The credential of an Authorization header; None for none, or for a scheme this is not about
    (a bearer token). A Basic or Digest header that does not parse is a credential that fails."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return BasicCredential("", "")
        user, _, password = decoded.partition(":")
        return BasicCredential(user, password)
    if scheme.lower() == "digest":
        params = {
            k.lower(): v[1:-1].replace('\\"', '"') if v.startswith('"') else v
            for k, v in _AUTH_PARAM.findall(rest)
        }
        return DigestCredential(params, method.upper())
    return None


def new_nonce(now_ms: int, random: bytes) -> str:
    return base64.urlsafe_b64encode(now_ms.to_bytes(8, "big") + random[:16]).decode().rstrip("=")


class DigestVerdict(StrEnum):
    VALID = "valid"
    STALE = "stale"  # right hash, nonce too old: the camera answers the fresh challenge
    INVALID = "invalid"


def check_digest(
    credential: DigestCredential,
    secrets: DigestSecrets,
    request_path: str,
    now_ms: int,
    lifetime_s: float = NONCE_LIFETIME_S,
) -> DigestVerdict:
    """RFC 7616 (qop=auth, MD5 or SHA-256, and their -sess forms) and RFC 2069 (no qop)."""
    params = credential.params
    algorithm = params.get("algorithm", "MD5").upper()
    ha1 = {"MD5": secrets.ha1_md5, "SHA-256": secrets.ha1_sha256}.get(algorithm.removesuffix("-SESS"), "")
    nonce, uri = params.get("nonce", ""), params.get("uri", "")
    if not ha1 or params.get("realm") != REALM or not _same_resource(uri, request_path):
        return DigestVerdict.INVALID
    qop = params.get("qop", "")
    if qop not in ("auth", ""):
        return DigestVerdict.INVALID  # auth-int: the body would have to be hashed; not offered
    expected = response_for(
        algorithm, ha1, nonce, params.get("nc", ""), params.get("cnonce", ""), qop, credential.method, uri
    )
    if not hmac.compare_digest(expected, params.get("response", "").lower()):
        return DigestVerdict.INVALID
    made = _nonce_time(nonce)
    if made is None or made > now_ms + _NONCE_CLOCK_LEEWAY_MS:
        return DigestVerdict.INVALID
    return DigestVerdict.VALID if now_ms - made <= lifetime_s * 1000 else DigestVerdict.STALE


def response_for(
    algorithm: str, ha1: str, nonce: str, nc: str, cnonce: str, qop: str, method: str, uri: str
) -> str:
    """The response a client computes (RFC 7616 section 3.4.1; RFC 2069 where qop is empty)."""
    base = algorithm.upper().removesuffix("-SESS")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(base, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _hash(base, f"{method}:{uri}")
    tail = f"{nonce}:{nc}:{cnonce}:{qop}:{ha2}" if qop else f"{nonce}:{ha2}"
    return _hash(base, f"{ha1}:{tail}")


def ha1_of(algorithm: str, user: str, realm: str, password: str) -> str:
    return _hash(algorithm.upper().removesuffix("-SESS"), f"{user}:{realm}:{password}")


def challenges(nonce: str, *, stale: bool = False) -> tuple[str, ...]:
    """WWW-Authenticate values, preferred first: Digest SHA-256, Digest MD5 (what most cameras
    know), Basic."""
    staleness = ", stale=true" if stale else ""
    digest = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}"{staleness}'
    return (
        f"{digest}, algorithm=SHA-256",
        f"{digest}, algorithm=MD5",
        f'Basic realm="{REALM}", charset="UTF-8"',
    )


def _hash(algorithm: str, text: str) -> str:
    if algorithm == "SHA-256":
        return hashlib.sha256(text.encode()).hexdigest()
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _nonce_time(nonce: str) -> int | None:
    try:
        raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw[:8], "big") if len(raw) == 24 else None


def _same_resource(uri: str, request_path: str) -> bool:
    """The Digest uri names this request's path, give or take a prefix a proxy or a mount strips or
    adds (the camera hashes the path it sent)."""
    # Some clients send the absolute form (http://host/path); the path is what names the resource.
    path = urlsplit(uri).path if "://" in uri else uri.split("?", 1)[0]
    if not path.startswith("/") or not request_path.startswith("/") or len(path) < 2:
        return False
    return path.endswith(request_path) or request_path.endswith(path)
