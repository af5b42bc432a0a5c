"""The console's server without a browser: the pass-through carries the user's token and nothing
else decides; signing in (development refused in production; OIDC code + PKCE against a fake
provider); sealed cookies; and every string of the page translated into the three languages."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request
from pydantic import ValidationError

from anpr_access.domain.dpo import Decision, RequestKind, RequestState
from anpr_access.domain.legal import LegalTier
from anpr_console.adapters.sealing import Sealer, Unreadable
from anpr_console.adapters.upstreams import in_process
from anpr_console.bootstrap import STATIC, build_app
from anpr_console.domain.locales import LOCALES, negotiate
from anpr_console.domain.pages import PAGES, pages_for
from anpr_console.domain.pkce import challenge
from anpr_console.settings import ConsoleSettings
from anpr_core.auth import DevIssuer, Role
from anpr_ingest.domain.cameras import CameraKind, CameraStatus
from anpr_match.domain.entries import Category, MatchKind
from anpr_match.domain.operators import AckOutcome

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def _echo() -> FastAPI:
    """A stand-in service: answers with what it was sent."""
    app = FastAPI()

    @app.api_route("/v1/{rest:path}", methods=["GET", "POST"])
    async def echo(rest: str, request: Request) -> dict[str, Any]:
        return {
            "path": request.url.path,
            "query": request.url.query,
            "authorization": request.headers.get("authorization"),
            "cookie": request.headers.get("cookie"),
            "body": (await request.body()).decode(),
        }

    return app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, DevIssuer]]:
    issuer = DevIssuer(tmp_path / "key.pem")
    app = build_app(ConsoleSettings(data_dir=tmp_path), in_process({"match": _echo()}), issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client, issuer


async def _sign_in(client: httpx.AsyncClient, role: str = "operator") -> dict[str, Any]:
    answer = await client.post(
        "/console/v1/sign-in/dev", json={"role": role, "subject": "op-1"}, headers={"X-Schild-Console": "1"}
    )
    assert answer.status_code == 200, answer.text
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert "samesite=strict" in answer.headers["set-cookie"].lower()
    body: dict[str, Any] = answer.json()
    return body


async def test_the_pass_through_puts_the_users_token_on_the_call_and_nothing_else(
    console: tuple[httpx.AsyncClient, DevIssuer],
) -> None:
    client, issuer = console
    refused = await client.get("/console/api/match/v1/hits")
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    session = await _sign_in(client)
    assert "token" not in json.dumps(session) and session["pages"] == ["live", "hotlists"]
    echoed = (await client.get("/console/api/match/v1/hits?limit=5")).json()
    assert echoed["path"] == "/v1/hits" and echoed["query"] == "limit=5"
    assert echoed["cookie"] is None, "the console's cookie never reaches a service"
    principal = await issuer.verify(echoed["authorization"].removeprefix("Bearer "))
    assert (principal.subject, principal.role) == ("op-1", Role.OPERATOR)
    # A change needs the console's own header (no cross-site form can send it).
    assert (await client.post("/console/api/match/v1/hits/x/ack", json={})).status_code == 403
    posted = await client.post(
        "/console/api/match/v1/hits/x/ack",
        content=b'{"outcome": "confirmed"}',
        headers={"X-Schild-Console": "1"},
    )
    assert posted.json()["body"] == '{"outcome": "confirmed"}'
    assert (await client.get("/console/api/nowhere/v1/x")).status_code == 404
    assert (await client.get("/console/api/match/metrics")).status_code == 404


async def test_the_page_forbids_scripts_from_elsewhere_and_the_language_is_kept_per_user(
    console: tuple[httpx.AsyncClient, DevIssuer],
) -> None:
    client, _ = console
    page = await client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in re.sub(r'xmlns="[^"]+"', "", page.text)
    await _sign_in(client, "supervisor")
    chosen = await client.put(
        "/console/v1/session/locale", json={"locale": "fr"}, headers={"X-Schild-Console": "1"}
    )
    assert chosen.json()["locale"] == "fr"
    assert (await client.get("/console/v1/session")).json()["locale"] == "fr"
    wrong = await client.put(
        "/console/v1/session/locale", json={"locale": "de"}, headers={"X-Schild-Console": "1"}
    )
    assert wrong.status_code == 422


def test_production_refuses_the_development_sign_in_and_needs_oidc_and_a_session_key() -> None:
    with pytest.raises(ValidationError) as refused:
        ConsoleSettings(env="production", dev_issuer_key_path=Path("k.pem"))
    for needed in ("ANPR_DEV_ISSUER_KEY_PATH", "ANPR_CONSOLE_OIDC_CLIENT_ID", "ANPR_CONSOLE_SESSION_KEY"):
        assert needed in str(refused.value)


async def test_oidc_sign_in_with_pkce_against_the_zones_provider(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")  # stands for the provider's keys
    seen: dict[str, Any] = {}

    def provider(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "authorization_endpoint": "https://idp.test/auth",
                    "token_endpoint": "https://idp.test/token",
                },
            )
        form = parse_qs(request.content.decode())
        seen.update(form)
        nonce = seen["nonce"]
        id_token = jwt.encode({"nonce": nonce, "locale": "fr-BE"}, "k" * 32, algorithm="HS256")
        return httpx.Response(
            200, json={"access_token": issuer.issue("insp-2", Role.INVESTIGATOR), "id_token": id_token}
        )

    settings = ConsoleSettings(
        data_dir=tmp_path, oidc_issuer="https://idp.test", console_oidc_client_id="schild"
    )
    app = build_app(settings, in_process({}), issuer)
    from anpr_console.entrypoints.state import ConsoleState

    state: ConsoleState = app.state.console
    assert state.sign_in.oidc is not None
    state.sign_in.oidc._http = httpx.AsyncClient(transport=httpx.MockTransport(provider))  # noqa: SLF001
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        start = await client.get("/console/v1/sign-in/oidc")
        assert start.status_code == 302
        query = parse_qs(urlsplit(start.headers["location"]).query)
        assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
        seen["nonce"] = query["nonce"][0]
        wrong = await client.get("/console/v1/sign-in/oidc/callback", params={"code": "c", "state": "forged"})
        assert "sign_in_error" in wrong.headers["location"]
        start = await client.get("/console/v1/sign-in/oidc")
        query = parse_qs(urlsplit(start.headers["location"]).query)
        seen["nonce"] = query["nonce"][0]
        back = await client.get(
            "/console/v1/sign-in/oidc/callback", params={"code": "c1", "state": query["state"][0]}
        )
        assert back.status_code == 302 and back.headers["location"] == "/"
        assert challenge(seen["code_verifier"][0]) == query["code_challenge"][0]
        session = (await client.get("/console/v1/session")).json()
    assert (session["subject"], session["role"], session["locale"]) == ("insp-2", "investigator", "fr")


def test_sealed_cookies_cannot_be_read_with_another_key_or_purpose() -> None:
    sealed = Sealer("a" * 32).seal({"t": "token"}, "session")
    assert Sealer("a" * 32).unseal(sealed, "session") == {"t": "token"}
    with pytest.raises(Unreadable):
        Sealer("b" * 32).unseal(sealed, "session")
    with pytest.raises(Unreadable):
        Sealer("a" * 32).unseal(sealed, "sign-in")


def test_languages_are_negotiated_and_pages_follow_the_role_table() -> None:
    assert (
        negotiate(None, "fr-BE,fr;q=0.9") == "fr" and negotiate("de") == "nl" and negotiate("en_GB") == "en"
    )
    assert all(pages_for(role) for role in Role)
    assert pages_for(Role.INVESTIGATOR) == ["live", "search", "hotlists"]


def test_every_string_of_the_page_is_in_the_three_catalogues() -> None:
    catalogues = {code: json.loads((STATIC / "i18n" / f"{code}.json").read_text("utf-8")) for code in LOCALES}
    keys = set(catalogues["en"])
    for code, catalogue in catalogues.items():
        assert set(catalogue) == keys, code
        assert all(text.strip() for text in catalogue.values()), code
    scripts = "\n".join(p.read_text("utf-8") for p in (STATIC / "js").rglob("*.js"))
    used = set(re.findall(r"\bt\('([a-z_]+\.[a-z_]+)'", scripts))
    used |= set(
        re.findall(r'data-i18n(?:-aria-label)?="([a-z_.]+)"', (STATIC / "index.html").read_text("utf-8"))
    )
    vocabularies: dict[str, Iterable[Any]] = {
        "page": PAGES,
        "role": Role,
        "role_hint": Role,
        "language": LOCALES,
        "category": Category,
        "match_kind": MatchKind,
        "outcome": AckOutcome,
        "request_kind": RequestKind,
        "request_state": RequestState,
        "decision": Decision,
        "tier": LegalTier,
        "camera_status": CameraStatus,
        "camera_kind": CameraKind,
        "direction": ("in", "out", "both"),
        "purpose": ("administrative", "judicial", "operational"),
    }
    for kind, values in vocabularies.items():
        used |= {f"{kind}.{value}" for value in values}
    used |= {
        f"image.{k}" for k in ("crop", "overview", "crop_alt", "overview_alt", "show_crop", "show_overview")
    }
    used |= {f"dpo.execute_{kind}" for kind in RequestKind}
    assert used - keys == set(), "untranslated"
