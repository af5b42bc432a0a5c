"""A service logs in to its brokers as its own SASL user when ANPR_KAFKA_SECURITY_PROTOCOL says so (the
chart's Strimzi KafkaUser per service): the settings refuse a half-given login, and the bus a
standalone service builds really logs in with it (a throwaway SASL/SCRAM broker: the right password
creates and writes the topics its ACLs allow, a wrong one is refused)."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr, ValidationError

from anpr_core.settings import CoreSettings
from anpr_core.standalone import kafka_bus_for

if TYPE_CHECKING:  # the root conftest's
    from conftest import ZoneExchange


def test_plaintext_needs_no_login_and_builds_none() -> None:
    assert CoreSettings(kafka_bootstrap="k:9092").kafka_security() is None


def test_a_sasl_listener_needs_the_user_and_its_password() -> None:
    with pytest.raises(ValidationError, match="ANPR_KAFKA_USERNAME and ANPR_KAFKA_PASSWORD"):
        CoreSettings(
            kafka_bootstrap="k:9093", kafka_security_protocol="SASL_SSL", kafka_username="schild-match"
        )
    with pytest.raises(ValidationError, match="ANPR_KAFKA_USERNAME and ANPR_KAFKA_PASSWORD"):
        CoreSettings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_PLAINTEXT", kafka_password="pw")


def test_the_login_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "ANPR_KAFKA_BOOTSTRAP": "schild-kafka-kafka-bootstrap:9093",
        "ANPR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ANPR_KAFKA_USERNAME": "schild-match",
        "ANPR_KAFKA_PASSWORD": "from-the-kafkauser-secret",
        "ANPR_KAFKA_CA_FILE": "/var/run/schild/kafka-ca/ca.crt",
    }.items():
        monkeypatch.setenv(name, value)
    security = CoreSettings().kafka_security()
    assert security is not None
    assert (
        security.username,
        security.password,
        security.protocol,
        security.mechanism,
        security.ca_file,
    ) == (
        "schild-match",
        "from-the-kafkauser-secret",
        "SASL_SSL",
        "SCRAM-SHA-512",
        "/var/run/schild/kafka-ca/ca.crt",
    )
    assert "from-the-kafkauser-secret" not in repr(CoreSettings())
    assert "from-the-kafkauser-secret" not in repr(security)


@pytest.mark.integration
async def test_a_standalone_bus_logs_in_with_the_settings_login(
    zone_exchange: ZoneExchange, caplog: pytest.LogCaptureFixture
) -> None:
    # zone-5344's ACLs: create and write topics under its prefix; the bus's topics are put there.
    prefix = f"t{uuid.uuid4().hex[:8]}."
    zone_exchange.allow("5344", prefix=prefix)

    def settings(password: str) -> CoreSettings:
        return CoreSettings(
            kafka_bootstrap=zone_exchange.sasl_bootstrap,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_username="zone-5344",
            kafka_password=SecretStr(password),
            topic_prefix=f"{prefix}zone.5344.",
        )

    bus = kafka_bus_for(settings(zone_exchange.passwords["5344"]), "login-test")
    await bus.start()
    try:
        await bus.publish(f"{prefix}zone.5344.anpr.reads.v1", b"cam", b"read")
    finally:
        await bus.stop()

    # A wrong password: the start fails, and the reason logged is the broker's refusal of the login
    # (aiokafka reports only that it could not bootstrap; the SASL failure is in its log).
    wrong = kafka_bus_for(settings("not-the-password"), "login-test-wrong")
    with caplog.at_level(logging.ERROR, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await wrong.start()
    await wrong.stop()
    assert any("SaslAuthenticationFailed" in record.getMessage() for record in caplog.records)
