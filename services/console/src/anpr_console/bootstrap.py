"""Composition root of the console: settings -> the sealer, the sign-in ports, the services' APIs
(in process or over HTTP), the page and its routes. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from anpr_console.adapters.oidc import OidcClient
from anpr_console.adapters.sealing import Sealer
from anpr_console.adapters.upstreams import Upstream, over_http
from anpr_console.domain.locales import LOCALES
from anpr_console.entrypoints.http import router
from anpr_console.entrypoints.proxy import ApiPassThrough
from anpr_console.entrypoints.state import ConsoleState
from anpr_console.handlers import SignInPorts
from anpr_console.settings import ConsoleSettings
from anpr_core.auth import DevIssuer, Role, TokenVerifier, build_verifier
from anpr_core.service import add_inner_middleware, create_service_app
from anpr_core.settings import Environment

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/console/assets"


def build_app(
    settings: ConsoleSettings,
    upstreams: Mapping[str, Upstream] | None = None,
    verifier: TokenVerifier | None = None,
) -> FastAPI:
    """`upstreams`: the services in process (the embedded platform); else over HTTP from settings."""
    # No read timeout: the live stream of hits stays open as long as the page does.
    client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None), follow_redirects=False)
    verifier = verifier or build_verifier(settings)
    production = settings.env is Environment.PRODUCTION
    oidc = (
        OidcClient(
            settings.oidc_issuer,
            settings.console_oidc_client_id,
            settings.console_oidc_client_secret.get_secret_value()
            if settings.console_oidc_client_secret
            else None,
            settings.console_oidc_scopes,
            client,
        )
        if settings.oidc_issuer and settings.console_oidc_client_id
        else None
    )
    # The development sign-in mints tokens of the development issuer, which only it verifies.
    dev_issuer = verifier if isinstance(verifier, DevIssuer) and not production else None
    key = settings.console_session_key
    state = ConsoleState(
        sealer=Sealer(key.get_secret_value() if key else None),
        sign_in=SignInPorts(verifier, settings.zone_id, dev_issuer, oidc),
        upstreams=upstreams if upstreams is not None else over_http(settings.console_upstreams, client),
        public_config={
            "zone_id": settings.zone_id,
            "dev_sign_in": dev_issuer is not None,
            "oidc_sign_in": oidc is not None,
            "roles": [role.value for role in Role],
            "locales": list(LOCALES),
            "map": {"tile_url": settings.console_tile_url, "attribution": settings.console_tile_attribution},
        },
        static_dir=STATIC,
        secure_cookies=production,
        public_url=settings.console_public_url,
        content_security_policy=content_security_policy(settings.console_tile_url),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    app = create_service_app(
        "console",
        lifespan=lifespan,
        readiness={},
        zone_id=settings.zone_id,
        token_verifier=verifier,
        metrics_token=settings.metrics_token,
        description="The operator console: its page, sign-in, and the services' APIs with the user's token.",
    )
    app.state.console = state
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC), name="console-assets")
    add_inner_middleware(app, ApiPassThrough)
    return app


def content_security_policy(tile_url: str | None) -> str:
    """Only the platform's own scripts, styles and data; images also from the zone's tile server."""
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url)
        tiles = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src 'self' blob: data:{tiles}; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
