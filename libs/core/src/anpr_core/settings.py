"""Typed settings shared by every service (environment prefix ANPR_). They fail fast."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from anpr_core.plates import DEFAULT_CONFUSABLE_CLASSES, Confusables

if TYPE_CHECKING:
    from anpr_core.bus.kafka import KafkaSecurity


def default_data_dir(module: Path = Path(__file__)) -> Path:
    """Where development data lives when ANPR_DATA_DIR is unset, never the current folder (a token
    minted elsewhere must be signed by the key the platform uses): the source checkout's var/ when the
    platform runs from one, wherever the command is started; else $XDG_STATE_HOME/schild
    (~/.local/state/schild). Images set ANPR_DATA_DIR."""
    checkout = module.resolve().parents[4]  # <checkout>/libs/core/src/anpr_core/settings.py
    if (checkout / "libs" / "core" / "pyproject.toml").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout / "var"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "schild"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class CoreSettings(BaseSettings):
    """What every service needs: where the bus and the database are, who we are, how to authenticate.

    With neither `kafka_bootstrap` nor `database_url` set, the platform runs embedded:
    an in-process bus and SQLite files under `data_dir`.
    """

    model_config = SettingsConfigDict(env_prefix="ANPR_", env_file=None, extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    zone_id: str = Field(default="5344", min_length=1, max_length=32)
    kafka_bootstrap: str | None = None
    # How the service logs in to those brokers: PLAINTEXT (a private listener, compose), or a SASL
    # listener as its own SCRAM user (the chart's Strimzi KafkaUser per service, whose ACLs allow it
    # only its topics and groups), over TLS with the brokers' CA (ANPR_KAFKA_CA_FILE).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ca_file: str | None = None
    # The runtime role: it serves requests with only the rights its service needs, and owns no table.
    database_url: str | None = None
    # The owner role, for migrations (schemas, tables, triggers, grants). Unset: the runtime role
    # migrates (SQLite, development); production on PostgreSQL refuses that.
    database_owner_url: str | None = None
    # Prefix for every topic name; tests use it to get fresh topics on a shared broker.
    topic_prefix: str = ""
    topic_partitions: int = Field(default=3, ge=1, le=256)
    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"

    # Operator authentication (OIDC). In development a local issuer signs tokens with a key
    # kept outside the repository, at dev_issuer_key_path.
    oidc_issuer: str | None = None
    oidc_audience: str = "schild"
    oidc_jwks_url: str | None = None
    dev_issuer_key_path: Path | None = None
    # The characters this zone's cameras confuse, e.g. ANPR_CONFUSABLE_CLASSES='["0ODQ","1IL"]': one
    # setting for match's fuzzy matching and access's fuzzy search, so the two always agree.
    confusable_classes: tuple[str, ...] = DEFAULT_CONFUSABLE_CLASSES
    # The bearer token Prometheus scrapes /metrics with; production refuses to start without it.
    metrics_token: SecretStr | None = Field(default=None, min_length=16)

    @field_validator("confusable_classes")
    @classmethod
    def _valid_confusable_classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return Confusables(value).classes

    @property
    def confusables(self) -> Confusables:
        return Confusables(self.confusable_classes)

    @model_validator(mode="after")
    def _kafka_login_complete(self) -> Self:
        if self.kafka_security_protocol != "PLAINTEXT" and not (self.kafka_username and self.kafka_password):
            raise ValueError(
                f"ANPR_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs ANPR_KAFKA_USERNAME "
                "and ANPR_KAFKA_PASSWORD (the service's user on the brokers' SASL listener)"
            )
        return self

    def kafka_security(self) -> KafkaSecurity | None:
        """The service's login to its brokers; None on a PLAINTEXT listener."""
        from anpr_core.bus.kafka import KafkaSecurity  # aiokafka only where there is a broker

        if self.kafka_security_protocol == "PLAINTEXT" or not self.kafka_username:
            return None
        return KafkaSecurity(
            username=self.kafka_username,
            password=self.kafka_password.get_secret_value() if self.kafka_password else "",
            protocol=self.kafka_security_protocol,
            mechanism=self.kafka_sasl_mechanism,
            ca_file=self.kafka_ca_file,
        )

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Self:
        if self.env is Environment.PRODUCTION:
            problems = []
            if not self.kafka_bootstrap or not self.database_url:
                problems.append("production needs ANPR_KAFKA_BOOTSTRAP and ANPR_DATABASE_URL")
            problems.extend(_role_split_problems(self.database_url, self.database_owner_url))
            if self.dev_issuer_key_path is not None:
                problems.append("the development token issuer (ANPR_DEV_ISSUER_KEY_PATH) is refused")
            if not (self.oidc_issuer and self.oidc_jwks_url):
                problems.append("production needs ANPR_OIDC_ISSUER and ANPR_OIDC_JWKS_URL")
            if self.metrics_token is None:
                problems.append(
                    "production needs ANPR_METRICS_TOKEN (the bearer token Prometheus scrapes /metrics "
                    "with): /metrics shows each camera's health and last-seen time"
                )
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def embedded(self) -> bool:
        return self.kafka_bootstrap is None

    def resolved_dev_key_path(self) -> Path:
        return self.dev_issuer_key_path or (self.data_dir / "dev-issuer" / "key.pem")


def _role_split_problems(database_url: str | None, owner_url: str | None) -> list[str]:
    """PostgreSQL in production needs two roles: the runtime one must not own what it writes."""
    if not database_url or not database_url.startswith("postgresql"):
        return []
    if not owner_url:
        return [
            "production on PostgreSQL needs ANPR_DATABASE_OWNER_URL: migrations run as an owner role, "
            "and the runtime role of ANPR_DATABASE_URL must own no table (else it could switch the "
            "audit log's guards off)"
        ]
    try:
        same = make_url(database_url).username == make_url(owner_url).username
    except (ArgumentError, ValueError):
        # Not the parser's message: it would repeat the URL, password included.
        return ["ANPR_DATABASE_URL or ANPR_DATABASE_OWNER_URL is not a valid database URL"]
    if same:
        return ["ANPR_DATABASE_OWNER_URL and ANPR_DATABASE_URL must connect as two different roles"]
    return []
