"""Tokens, the role x action table, production settings, and event ids."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from pydantic import ValidationError

from anpr_core.auth import (
    DEV_ISSUER,
    PERMISSIONS,
    Action,
    DevIssuer,
    Principal,
    Role,
    allowed,
    require,
)
from anpr_core.ids import uuid7
from anpr_core.problems import Problem, install_problem_handlers
from anpr_core.settings import CoreSettings, Environment

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "key.pem")


def private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": DEV_ISSUER,
        "aud": "schild",
        "sub": "alice",
        "role": "investigator",
        "zone": "5344",
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return base


async def refusal(issuer: DevIssuer, token: str) -> Problem:
    with pytest.raises(Problem) as caught:
        await issuer.verify(token)
    return caught.value


# --- tokens -------------------------------------------------------------------------------------


async def test_dev_token_verifies_to_its_principal(issuer: DevIssuer) -> None:
    principal = await issuer.verify(issuer.issue("alice", Role.INVESTIGATOR, zone_id="5341"))
    assert principal.subject == "alice"
    assert principal.role is Role.INVESTIGATOR
    assert principal.zone_id == "5341"


async def test_key_file_is_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "key.pem"
    first = DevIssuer(path)
    assert path.stat().st_mode & 0o077 == 0, "the signing key must not be readable by others"
    # A second service starting on the same key file accepts the first one's tokens.
    second = DevIssuer(path)
    principal = await second.verify(first.issue("bob", Role.AUDITOR))
    assert principal.role is Role.AUDITOR


async def test_expired_token_is_refused_with_401(issuer: DevIssuer) -> None:
    problem = await refusal(issuer, issuer.issue("alice", Role.INVESTIGATOR, ttl_s=-60))
    assert problem.status == 401
    assert "expired" in problem.detail
    assert problem.headers.get("WWW-Authenticate", "").startswith("Bearer")


async def test_token_of_another_key_is_refused(issuer: DevIssuer, tmp_path: Path) -> None:
    stranger = DevIssuer(tmp_path / "other" / "key.pem")
    problem = await refusal(issuer, stranger.issue("mallory", Role.ADMIN))
    assert problem.status == 401


async def test_token_with_another_issuer_is_refused_even_with_our_key(
    issuer: DevIssuer, tmp_path: Path
) -> None:
    token = jwt.encode(
        claims(iss="https://evil.example", role="admin"), private_key(tmp_path / "key.pem"), algorithm="EdDSA"
    )
    problem = await refusal(issuer, token)
    assert problem.status == 401
    assert "issuer" in problem.detail


async def test_token_for_another_audience_is_refused(issuer: DevIssuer, tmp_path: Path) -> None:
    other_audience = DevIssuer(tmp_path / "key.pem", audience="another-system")
    problem = await refusal(issuer, other_audience.issue("alice", Role.INVESTIGATOR))
    assert problem.status == 401
    assert "not meant for this service" in problem.detail


@pytest.mark.parametrize("missing", ["exp", "sub", "aud", "iss"])
async def test_token_without_required_claim_is_refused(
    issuer: DevIssuer, tmp_path: Path, missing: str
) -> None:
    body = claims()
    del body[missing]
    problem = await refusal(issuer, jwt.encode(body, private_key(tmp_path / "key.pem"), algorithm="EdDSA"))
    assert problem.status == 401


async def test_unsigned_token_is_refused(issuer: DevIssuer) -> None:
    token = jwt.encode(claims(role="admin"), key="", algorithm="none")
    problem = await refusal(issuer, token)
    assert problem.status == 401


@pytest.mark.parametrize("role", ["janitor", None, "ADMIN"])
async def test_unknown_role_is_forbidden(issuer: DevIssuer, tmp_path: Path, role: str | None) -> None:
    body = claims(role=role)
    if role is None:
        del body["role"]
    problem = await refusal(issuer, jwt.encode(body, private_key(tmp_path / "key.pem"), algorithm="EdDSA"))
    assert problem.status == 403


# --- the role x action table --------------------------------------------------------------------

OPS, INV, SUP, DPO, AUD, ADM = (
    Role.OPERATOR,
    Role.INVESTIGATOR,
    Role.SUPERVISOR,
    Role.DPO,
    Role.AUDITOR,
    Role.ADMIN,
)

# Written out on purpose: changing who may do what must change this table too.
EXPECTED: dict[Action, set[Role]] = {
    Action.VIEW_HITS: {OPS, INV, SUP},
    Action.ACK_HIT: {OPS, SUP},
    Action.SEARCH_PASSAGES: {INV},
    Action.VIEW_IMAGE: {INV},
    Action.MANAGE_HOTLIST: {SUP, INV},
    Action.VIEW_HOTLIST: {OPS, INV, SUP},
    Action.MANAGE_CAMERAS: {ADM},
    Action.VIEW_CAMERAS: {ADM, SUP},
    Action.READ_AUDIT: {AUD},
    Action.VERIFY_AUDIT: {AUD, ADM, DPO},
    Action.DPO_REQUESTS: {DPO},
    Action.VIEW_STATS: {SUP, ADM, DPO},
    Action.TRY_READER: {OPS, INV, SUP, ADM},
    Action.MANAGE_HOLDS: {SUP, DPO},
    Action.RUN_RETENTION: {ADM},
    Action.MANAGE_AGREEMENTS: {ADM},
    Action.VIEW_AGREEMENTS: {ADM, SUP, DPO},
}


def test_every_action_has_a_permission_entry() -> None:
    assert set(PERMISSIONS) == set(Action)
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_permission_matrix(role: Role, action: Action) -> None:
    assert allowed(role, action) is (role in EXPECTED[action])


def test_auditor_is_the_only_role_reading_the_audit_log_and_reads_nothing_else() -> None:
    assert {a for a in Action if allowed(Role.AUDITOR, a)} == {Action.READ_AUDIT, Action.VERIFY_AUDIT}


class _RecordedRefusals:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str, str]] = []

    async def refused(self, actor: Principal | None, action: str, detail: str, path: str) -> None:
        self.seen.append((actor.subject if actor else None, action, path))


async def test_require_refuses_a_role_without_the_permission_and_records_the_attempt(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    app = FastAPI()
    app.state.token_verifier = issuer
    app.state.zone_id = "5344"
    app.state.refusal_recorder = recorder = _RecordedRefusals()
    install_problem_handlers(app)

    @app.get("/search")
    async def search(principal: Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]) -> str:
        return principal.subject

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        allowed_call = await client.get(
            "/search", headers={"Authorization": f"Bearer {issuer.issue('alice', Role.INVESTIGATOR)}"}
        )
        forbidden = await client.get(
            "/search", headers={"Authorization": f"Bearer {issuer.issue('oscar', Role.OPERATOR)}"}
        )
        anonymous = await client.get("/search")
    assert allowed_call.status_code == 200 and allowed_call.json() == "alice"
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"
    assert anonymous.status_code == 401
    assert recorder.seen == [("oscar", "search_passages", "/search"), (None, "search_passages", "/search")]


async def test_require_refuses_a_token_of_another_zone_and_records_the_attempt(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    app = FastAPI()
    app.state.token_verifier = issuer
    app.state.zone_id = "5344"
    app.state.refusal_recorder = recorder = _RecordedRefusals()
    install_problem_handlers(app)

    @app.get("/search")
    async def search(principal: Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]) -> str:
        return principal.subject

    def bearer(subject: str, zone_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.issue(subject, Role.INVESTIGATOR, zone_id=zone_id)}"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ours = await client.get("/search", headers=bearer("alice", "5344"))
        neighbour = await client.get("/search", headers=bearer("nina", "5341"))
        no_zone = await client.get("/search", headers=bearer("zed", ""))
    assert ours.status_code == 200 and ours.json() == "alice"
    for refused in (neighbour, no_zone):
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
    assert "zone 5341" in neighbour.json()["detail"]
    assert recorder.seen == [("nina", "search_passages", "/search"), ("zed", "search_passages", "/search")]


async def test_require_serves_no_one_where_the_app_names_no_zone(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    app = FastAPI()
    app.state.token_verifier = issuer
    install_problem_handlers(app)

    @app.get("/search")
    async def search(principal: Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]) -> str:
        return principal.subject

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(
            "/search", headers={"Authorization": f"Bearer {issuer.issue('alice', Role.INVESTIGATOR)}"}
        )
    assert response.status_code == 403


# --- settings -----------------------------------------------------------------------------------

PRODUCTION_OK: dict[str, Any] = {
    "env": Environment.PRODUCTION,
    "kafka_bootstrap": "kafka:9092",
    "database_url": "postgresql://schild_app@db/schild",
    "database_owner_url": "postgresql://schild_owner@db/schild",
    "oidc_issuer": "https://idp.example/realms/police",
    "oidc_jwks_url": "https://idp.example/realms/police/certs",
    "metrics_token": "prometheus-scrape-token",
}


def test_complete_production_settings_are_accepted(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path, **PRODUCTION_OK)
    assert settings.env is Environment.PRODUCTION
    assert not settings.embedded


@pytest.mark.parametrize("missing", ["oidc_issuer", "oidc_jwks_url", "kafka_bootstrap", "database_url"])
def test_production_without_oidc_or_infrastructure_is_refused(tmp_path: Path, missing: str) -> None:
    values = {k: v for k, v in PRODUCTION_OK.items() if k != missing}
    with pytest.raises(ValidationError):
        CoreSettings(data_dir=tmp_path, **values)


def test_production_refuses_the_dev_issuer(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="development token issuer"):
        CoreSettings(data_dir=tmp_path, dev_issuer_key_path=tmp_path / "key.pem", **PRODUCTION_OK)


def test_production_from_environment_alone_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_ENV", "production")
    with pytest.raises(ValidationError):
        CoreSettings()


def test_development_defaults_run_embedded(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path)
    assert settings.embedded
    assert settings.resolved_dev_key_path() == tmp_path / "dev-issuer" / "key.pem"


# --- ids ----------------------------------------------------------------------------------------


def test_uuid7_has_version_7_and_the_rfc_variant() -> None:
    for _ in range(200):
        value = uuid7()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_uuid7_carries_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= value.int >> 80 <= after


def test_uuid7_is_time_ordered() -> None:
    ids = []
    for _ in range(5):
        ids.append(uuid7())
        time.sleep(0.002)
    assert ids == sorted(ids)
    assert [str(i) for i in ids] == sorted(str(i) for i in ids), "the text form sorts the same way"
    assert len({uuid7() for _ in range(1000)}) == 1000
