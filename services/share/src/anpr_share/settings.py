"""Share's settings: the core ones (ANPR_*) and its own (ANPR_SHARE_*): where the exchange is (the
Kafka listener neighbouring zones share topics on) and how this zone logs in there. Read once at
the start: a bad value stops the service."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from anpr_core.bus.kafka import KafkaSecurity
from anpr_core.settings import CoreSettings, Environment
from anpr_share.domain.agreements import ZONE_ID


def _share_env(name: str) -> AliasChoices:
    return AliasChoices(f"ANPR_SHARE_{name.upper()}")


class ExchangeProtocol(StrEnum):
    SASL_SSL = "SASL_SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    PLAINTEXT = "PLAINTEXT"  # development only: no login, no ACL


class ShareSettings(CoreSettings):
    model_config = SettingsConfigDict(
        env_prefix="ANPR_", env_file=None, extra="ignore", populate_by_name=True
    )

    # The exchange's bootstrap; unset: this zone's own broker (ANPR_KAFKA_BOOTSTRAP), where the
    # neighbours then log in.
    exchange_bootstrap: str | None = Field(default=None, validation_alias=_share_env("exchange_bootstrap"))
    exchange_protocol: ExchangeProtocol = Field(
        default=ExchangeProtocol.SASL_SSL, validation_alias=_share_env("exchange_protocol")
    )
    # This zone's SCRAM user on the exchange (zone-<zone id>, deploy/kafka/zone-exchange.sh).
    exchange_username: str | None = Field(default=None, validation_alias=_share_env("exchange_username"))
    exchange_password: SecretStr | None = Field(
        default=None, validation_alias=_share_env("exchange_password")
    )
    exchange_mechanism: str = Field(
        default="SCRAM-SHA-512", validation_alias=_share_env("exchange_mechanism")
    )
    exchange_ca_file: str | None = Field(default=None, validation_alias=_share_env("exchange_ca_file"))
    # What the exchange's topic and group names start with (tests on a shared broker).
    exchange_topic_prefix: str = Field(default="", validation_alias=_share_env("exchange_topic_prefix"))
    # How often the agreements are read again (a change made on another replica is in force here
    # within this), and how often the neighbours' topics are looked for.
    refresh_s: float = Field(default=1.0, gt=0, le=60, validation_alias=_share_env("refresh_s"))
    topic_check_s: float = Field(default=5.0, gt=0, le=300, validation_alias=_share_env("topic_check_s"))
    # Records the bridge takes from a topic at a time (one disclosure event per agreement per 200).
    max_batch: int = Field(default=500, ge=1, le=10_000, validation_alias=_share_env("max_batch"))

    @model_validator(mode="after")
    def _sound_exchange(self) -> Self:
        problems = []
        if not ZONE_ID.match(self.zone_id):
            problems.append("ANPR_ZONE_ID names the exchange's topics: 1 to 32 letters, digits, '_' or '-'")
        sasl = self.exchange_protocol is not ExchangeProtocol.PLAINTEXT
        if sasl and self.exchange_bootstrap and not (self.exchange_username and self.exchange_password):
            problems.append(
                "ANPR_SHARE_EXCHANGE_USERNAME and ANPR_SHARE_EXCHANGE_PASSWORD are needed for the "
                f"exchange's {self.exchange_protocol.value} listener"
            )
        if (
            self.env is Environment.PRODUCTION
            and self.exchange_bootstrap
            and self.exchange_protocol is ExchangeProtocol.PLAINTEXT
        ):
            problems.append("production refuses a PLAINTEXT exchange: neighbours share over SASL only")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def exchange_security(self) -> KafkaSecurity | None:
        if self.exchange_protocol is ExchangeProtocol.PLAINTEXT or not self.exchange_username:
            return None
        password = self.exchange_password.get_secret_value() if self.exchange_password else ""
        return KafkaSecurity(
            username=self.exchange_username,
            password=password,
            protocol=self.exchange_protocol.value,
            mechanism=self.exchange_mechanism,
            ca_file=self.exchange_ca_file,
        )
