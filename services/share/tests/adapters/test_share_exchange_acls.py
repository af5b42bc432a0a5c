"""The zone exchange on a real broker (SASL/SCRAM users per zone, ACLs by
deploy/kafka/zone-exchange.sh, as compose and the chart apply them): a neighbour reads what is
shared with it and writes its own topics, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from anpr_core.bus import BusUnavailable, Record
from anpr_core.bus.kafka import KafkaBus, KafkaSecurity
from anpr_share.domain.zone_topics import ZoneTopics

if TYPE_CHECKING:  # the root conftest's; this folder's own conftest.py takes the name at run time
    from conftest import ZoneExchange

pytestmark = pytest.mark.integration


def login(exchange: ZoneExchange, zone: str, password: str | None = None) -> KafkaBus:
    security = KafkaSecurity(f"zone-{zone}", password or exchange.passwords[zone], protocol="SASL_PLAINTEXT")
    return KafkaBus(exchange.sasl_bootstrap, client_id=f"acl-test-{zone}", security=security)


async def read_one(bus: KafkaBus, topic: str, group: str) -> list[Record]:
    consumer = bus.consumer([topic], group)
    await consumer.start()
    try:
        return await consumer.poll(timeout_s=5, max_records=10)
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
def names(zone_exchange: ZoneExchange) -> ZoneTopics:
    """This module's topics on the exchange, and their ACLs (made once: each run of the tool costs
    a JVM's start)."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    # Zone 5344 shares with 5388 and with 5390; 5388 with 5344.
    zone_exchange.allow("5344", "5388", "5390", prefix=prefix)
    zone_exchange.allow("5388", "5344", prefix=prefix)
    return ZoneTopics(prefix)


@pytest.fixture
async def zones(
    zone_exchange: ZoneExchange, names: ZoneTopics
) -> AsyncIterator[tuple[ZoneTopics, KafkaBus, KafkaBus]]:
    sender, neighbour = login(zone_exchange, "5344"), login(zone_exchange, "5388")
    await sender.start()
    await neighbour.start()
    await sender.ensure_topics([names.reads("5344", "5388"), names.reads("5344", "5390")])
    await sender.publish(names.reads("5344", "5388"), b"cam", b"for 5388")
    await sender.publish(names.reads("5344", "5390"), b"cam", b"for 5390 only")
    try:
        yield names, sender, neighbour
    finally:
        await neighbour.stop()
        await sender.stop()


async def test_a_neighbour_reads_what_is_shared_with_it(zones: tuple[ZoneTopics, KafkaBus, KafkaBus]) -> None:
    names, _sender, neighbour = zones
    records = await read_one(neighbour, names.reads("5344", "5388"), names.group("5388", "share-in"))
    assert [r.value for r in records] == [b"for 5388"]


async def test_a_neighbours_credentials_are_refused_any_other_topic(
    zones: tuple[ZoneTopics, KafkaBus, KafkaBus],
) -> None:
    names, _sender, neighbour = zones
    group = names.group("5388", "share-in")
    # What zone 5344 shares with zone 5390: not 5388's to read.
    with pytest.raises(TopicAuthorizationFailedError):
        await read_one(neighbour, names.reads("5344", "5390"), group)
    # Zone 5344's own topics on the exchange's broker.
    with pytest.raises(TopicAuthorizationFailedError):
        await read_one(neighbour, f"{names.prefix}anpr.reads.v1", group)
    # Writing in zone 5344's name.
    with pytest.raises(BusUnavailable, match="TopicAuthorization"):
        await neighbour.publish(names.reads("5344", "5388"), b"cam", b"forged")
    # Its own topics it may write.
    await neighbour.ensure_topics([names.reads("5388", "5344")])
    await neighbour.publish(names.reads("5388", "5344"), b"cam", b"from 5388")


async def test_a_consumer_group_outside_the_zones_own_is_refused(
    zones: tuple[ZoneTopics, KafkaBus, KafkaBus],
) -> None:
    names, _sender, neighbour = zones
    with pytest.raises(KafkaError):
        await read_one(neighbour, names.reads("5344", "5388"), names.group("5344", "share-in"))


async def test_a_wrong_password_is_refused(zone_exchange: ZoneExchange) -> None:
    intruder = login(zone_exchange, "5388", password="not-the-password")
    with pytest.raises(KafkaError):
        await intruder.start()
    await intruder.stop()
