"""The Kafka bus (aiokafka): idempotent producer with acks=all, manual commits after processing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from anpr_core.bus.base import BusUnavailable, OutgoingRecord, Record

log = logging.getLogger(__name__)

# Frames are whole images: the producer and broker limits must allow them, and ingest refuses
# anything larger with a clear error before it reaches the producer.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates to a broker's SASL listener (SCRAM user and password, over TLS or
    plaintext): the exchange where neighbour zones share topics, and the zone's own brokers where a
    service logs in as its own user (ANPR_KAFKA_SECURITY_PROTOCOL). Without it a client connects to
    a plaintext listener."""

    username: str
    password: str = field(repr=False)  # never in a log line
    protocol: str = "SASL_SSL"  # or SASL_PLAINTEXT (tests, a private network)
    mechanism: str = "SCRAM-SHA-512"
    ca_file: str | None = None  # the CA that signed the broker's certificate (SASL_SSL)

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }
        if self.protocol == "SASL_SSL":
            options["ssl_context"] = create_ssl_context(cafile=self.ca_file)
        return options


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        topics: Sequence[str] = (),
        compacted: set[str] | frozenset[str] = frozenset(),
        partitions: int = 3,
        replication_factor: int = 1,
        request_timeout_ms: int = 15_000,
        delivery_timeout_ms: int = 10_000,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._bootstrap = bootstrap
        # Every client of this bus (producer, admin, consumers, replay) authenticates alike.
        self._options = security.client_options() if security is not None else {}
        self._client_id = client_id
        self._topics = list(topics)
        self._compacted = set(compacted)
        self._partitions = partitions
        self._replication = replication_factor
        self._request_timeout_ms = request_timeout_ms
        # The idempotent producer retries a batch forever while the broker is away; past this a
        # publish raises BusUnavailable (the record may still arrive later: at-least-once).
        self._delivery_timeout_s = delivery_timeout_ms / 1000
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        await self.ensure_topics(self._topics)
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=self._request_timeout_ms,
            linger_ms=2,
            **self._options,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ensure_topics(self, names: Sequence[str]) -> None:
        if not names:
            return
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id=f"{self._client_id}-admin", **self._options
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(
                    name=name,
                    num_partitions=self._partitions,
                    replication_factor=self._replication,
                    topic_configs=self._topic_config(name),
                )
                for name in names
                if name not in existing
            ]
            if wanted:
                # Another replica may have created it first.
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
                # CreateTopics answers before every broker's metadata shows the topic: wait, so
                # that once start() returns, listing and subscribing see what was created.
                missing = {topic.name for topic in wanted}
                deadline = time.monotonic() + 15.0
                while missing and time.monotonic() < deadline:
                    missing -= set(await admin.list_topics())
                    if missing:
                        await asyncio.sleep(0.1)
        finally:
            await admin.close()

    def _topic_config(self, name: str) -> dict[str, str]:
        config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if name in self._compacted:
            config["cleanup.policy"] = "compact"
        return config

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise BusUnavailable("the Kafka producer is not started")
        return self._producer

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self.publish_many([OutgoingRecord(topic, key, value, tuple(headers))])

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        producer = self._require_producer()
        try:
            async with asyncio.timeout(self._delivery_timeout_s):
                # Send everything first so the producer batches, then wait for every acknowledgement.
                pending = [
                    await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None)
                    for r in records
                ]
                await asyncio.gather(*pending)
        except KafkaError as error:
            raise BusUnavailable(f"Kafka did not acknowledge the record: {error}") from error
        except TimeoutError as error:
            raise BusUnavailable(
                f"Kafka did not acknowledge the record within {self._delivery_timeout_s:.1f}s"
            ) from error

    def consumer(self, topics: Sequence[str], group_id: str) -> KafkaConsumer:
        return KafkaConsumer(
            self._bootstrap, list(topics), group_id, client_id=self._client_id, options=self._options
        )

    async def replay(
        self, topic: str, since_ms: int, until_ms: int | None = None, *, max_records: int = 5000
    ) -> AsyncIterator[list[Record]]:
        """See `Replayable.replay`: a consumer without a group id, assigned every partition and
        moved to offsets_for_times(since_ms); it commits nothing and joins no group."""
        # The producer's client knows every topic's partitions (a consumer's only those it follows).
        try:
            cluster = await self._require_producer().client.fetch_all_metadata()
        except KafkaError as error:
            raise BusUnavailable(f"replay of {topic} failed: {error}") from error
        partitions = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        if not partitions:
            return
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            client_id=f"{self._client_id}-replay",
            group_id=None,
            enable_auto_commit=False,
            fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            request_timeout_ms=self._request_timeout_ms,
            **self._options,
        )
        try:
            await reader.start()
            reader.assign(partitions)
            ends = await reader.end_offsets(partitions)
            if until_ms is not None:
                ends = await _first_at(reader, partitions, until_ms, ends)
            starts = await _first_at(reader, partitions, since_ms, ends)
            remaining = {tp: ends[tp] for tp in partitions if starts[tp] < ends[tp]}
            for tp in partitions:
                if tp in remaining:
                    reader.seek(tp, starts[tp])
                else:
                    reader.pause(tp)
            while remaining:
                batches = await reader.getmany(*remaining, timeout_ms=1000, max_records=max_records)
                records = [
                    _record(message)
                    for tp, messages in batches.items()
                    for message in messages
                    if message.offset < remaining.get(tp, -1)
                ]
                # Past its end (or at it, over a gap of compacted records or transaction markers).
                for tp in list(remaining):
                    if await reader.position(tp) >= remaining[tp]:
                        reader.pause(tp)
                        del remaining[tp]
                if records:
                    yield records
        except KafkaError as error:
            raise BusUnavailable(f"replay of {topic} failed: {error}") from error
        finally:
            await reader.stop()

    async def topic_names(self) -> set[str]:
        """The topics that exist and this client may see (Describe): a neighbour zone's topics are
        subscribed to once they exist, as subscribing first would ask the broker to create them."""
        try:
            cluster = await self._require_producer().client.fetch_all_metadata()
        except KafkaError as error:
            raise BusUnavailable(f"listing topics failed: {error}") from error
        return set(cluster.topics())

    async def ping(self) -> bool:
        producer = self._producer
        if producer is None:
            return False
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=5)
        except (KafkaError, TimeoutError):
            return False
        return True


async def _first_at(
    reader: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    timestamp_ms: int,
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Per partition, the first offset stamped at or after `timestamp_ms`; `ends` where none is."""
    found = await reader.offsets_for_times({tp: max(0, timestamp_ms) for tp in partitions})
    return {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in partitions}


def _record(message: ConsumerRecord[bytes, bytes]) -> Record:
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp_ms=message.timestamp,
        headers=tuple(message.headers or ()),
    )


class KafkaConsumer:
    def __init__(
        self,
        bootstrap: str,
        topics: list[str],
        group_id: str,
        *,
        client_id: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            **(options or {}),
        )

    async def start(self) -> None:
        self._next_offsets: dict[tuple[str, int], int] = {}
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        # Rebalances happen inside getmany, between batches, never while a batch is being
        # processed; a commit after a rebalance that lost the partition fails and the records
        # are redelivered to the new owner, whose sinks are idempotent.
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        for tp, messages in batches.items():
            if messages:
                self._next_offsets[(tp.topic, tp.partition)] = messages[-1].offset + 1
        return [
            Record(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
                timestamp_ms=message.timestamp,
                headers=tuple(message.headers or ()),
            )
            for partition_messages in batches.values()
            for message in partition_messages
        ]

    async def commit(self, records: Sequence[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        if offsets:
            await self._consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})

    def lag(self) -> dict[tuple[str, int], int]:
        lags: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            consumed = self._next_offsets.get((tp.topic, tp.partition))
            if highwater is not None and consumed is not None:
                lags[(tp.topic, tp.partition)] = max(0, highwater - consumed)
        return lags
