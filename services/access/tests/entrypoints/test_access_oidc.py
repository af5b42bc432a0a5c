"""OIDC bearer tokens verified against a JWKS served over HTTP by a local in-process server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from anpr.v1 import audit_pb2
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import JwksTokenVerifier, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.problems import Problem

ISSUER = "https://idp.police.example/realms/zone-5344"
AUDIENCE = "schild"
KEY_ID = "test-key-1"


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/realms/zone-5344/protocol/openid-connect/certs"
    finally:
        server.shutdown()
        server.server_close()


def token(key: rsa.RSAPrivateKey, kid: str = KEY_ID, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "inspector-42",
        "role": "investigator",
        "zone": "5344",
        "iat": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_a_token_of_the_provider_verifies_to_its_principal(
    jwks_url: str, signing_key: rsa.RSAPrivateKey
) -> None:
    verifier = JwksTokenVerifier(ISSUER, AUDIENCE, jwks_url)
    principal = await verifier.verify(token(signing_key))
    assert (principal.subject, principal.role, principal.zone_id) == (
        "inspector-42",
        Role.INVESTIGATOR,
        "5344",
    )


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        pytest.param({"aud": "another-system"}, "not meant for this service", id="audience"),
        pytest.param({"iss": "https://evil.example"}, "issuer", id="issuer"),
        pytest.param({"exp": int(time.time()) - 120}, "expired", id="expired"),
    ],
)
async def test_wrong_audience_issuer_or_expiry_is_refused(
    jwks_url: str, signing_key: rsa.RSAPrivateKey, overrides: dict[str, Any], says: str
) -> None:
    verifier = JwksTokenVerifier(ISSUER, AUDIENCE, jwks_url)
    with pytest.raises(Problem) as caught:
        await verifier.verify(token(signing_key, **overrides))
    assert caught.value.status == 401
    assert says in caught.value.detail


async def test_a_key_the_provider_does_not_publish_is_refused(jwks_url: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = JwksTokenVerifier(ISSUER, AUDIENCE, jwks_url)
    with pytest.raises(Problem) as unknown_kid:
        await verifier.verify(token(stranger, kid="not-published"))
    assert unknown_kid.value.status == 401
    with pytest.raises(Problem) as forged:
        await verifier.verify(token(stranger))
    assert forged.value.status == 401


async def test_the_access_service_accepts_provider_tokens_and_audits_refused_ones(
    jwks_url: str, signing_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    bus = MemoryBus()
    app = build_app(
        AccessSettings(data_dir=tmp_path, retention_interval_s=0),
        bus,
        make_engine(None, "access", tmp_path),
        JwksTokenVerifier(ISSUER, AUDIENCE, jwks_url),
    )
    params = {"plate": "1ABC234", "purpose": "administrative", "case_reference": "PV/1", "legal_basis": "WPA"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        ok = await client.get(
            "/v1/passages", params=params, headers={"Authorization": f"Bearer {token(signing_key)}"}
        )
        other_issuer = token(signing_key, iss="https://evil.example")
        refused = await client.get(
            "/v1/passages", params=params, headers={"Authorization": f"Bearer {other_issuer}"}
        )
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    consumer = bus.consumer([Topics().audit], "check")
    await consumer.start()
    records = await consumer.poll(timeout_s=0.1, max_records=10)
    await consumer.stop()
    events = []
    for record in records:
        event = audit_pb2.AuditEvent()
        event.ParseFromString(record.value)
        events.append((event.action, event.outcome, event.actor.user_id))
    assert sorted(events) == [
        ("search", "allowed", "inspector-42"),
        ("search_passages", "refused", "anonymous"),
    ]
