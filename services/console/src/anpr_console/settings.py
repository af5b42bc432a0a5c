"""Console settings (environment prefix ANPR_, like every service): where the services' REST APIs
are, how staff sign in (OIDC authorization code with PKCE), the session key and the map's tiles."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator

from anpr_core.settings import CoreSettings, Environment

SERVICES = ("ingest", "detect", "match", "audit", "access")


class ConsoleSettings(CoreSettings):
    """The console holds no data and needs neither the bus nor a database: only the services' URLs."""

    # Standalone (compose, helm): each service's base URL, e.g. '{"match": "http://match:8000", ...}'.
    # The embedded platform hands the console its services in process instead.
    console_upstreams: dict[str, str] = Field(
        default_factory=lambda: {name: f"http://127.0.0.1:{8001 + n}" for n, name in enumerate(SERVICES)}
    )
    # Seals the session cookie (the user's token inside, out of the page's reach). Production: at
    # least 32 characters, the same on every replica. Development: a random key per process.
    console_session_key: SecretStr | None = Field(default=None, min_length=32)
    # OIDC authorization code flow with PKCE, against the zone's identity provider (ANPR_OIDC_ISSUER).
    console_oidc_client_id: str | None = None
    console_oidc_client_secret: SecretStr | None = None  # for a confidential client; PKCE either way
    console_oidc_scopes: str = "openid profile"
    # Where the provider sends the user back; default: this request's own origin + the callback path.
    console_public_url: str | None = None
    # Map tiles from a server the zone runs, e.g. https://tiles.zone.example/{z}/{x}/{y}.png. Unset:
    # cameras on a plain background. Never a public tile server by default.
    console_tile_url: str | None = None
    console_tile_attribution: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Self:
        # Replaces CoreSettings' check: the console needs no bus or database, but OIDC all the more.
        if self.env is Environment.PRODUCTION:
            problems = []
            if self.dev_issuer_key_path is not None:
                problems.append("the development token issuer (ANPR_DEV_ISSUER_KEY_PATH) is refused")
            if not (self.oidc_issuer and self.oidc_jwks_url and self.console_oidc_client_id):
                problems.append(
                    "production needs ANPR_OIDC_ISSUER, ANPR_OIDC_JWKS_URL and ANPR_CONSOLE_OIDC_CLIENT_ID"
                )
            if self.console_session_key is None:
                problems.append("production needs ANPR_CONSOLE_SESSION_KEY (32+ characters, every replica)")
            if self.metrics_token is None:
                problems.append("production needs ANPR_METRICS_TOKEN (the bearer token for /metrics)")
            missing = sorted(set(SERVICES) - set(self.console_upstreams))
            if missing:
                problems.append(f"ANPR_CONSOLE_UPSTREAMS names no URL for {', '.join(missing)}")
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def development(self) -> bool:
        return self.env is Environment.DEVELOPMENT
