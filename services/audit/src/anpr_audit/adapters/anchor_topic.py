"""The anchor topic (anpr.audit.anchors.v1): one partition, never deleted, written through the
service's bus and read back from its tail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from anpr_audit.adapters.anchors import AnchorError, anchor_line, read_anchor_lines
from anpr_audit.domain.checkpoints import Checkpoint, newest
from anpr_core.bus import Bus
from anpr_core.bus.kafka import KafkaSecurity

log = logging.getLogger(__name__)

TOPIC = "anpr.audit.anchors.v1"
TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
# How many of the newest records of each partition are read to find the newest anchor: replicas
# may publish a little out of order.
_TAIL = 16


def anchor_topic(prefix: str = "") -> str:
    return f"{prefix}{TOPIC}"


class AnchorTopic:
    """The Kafka topic: published through the service's bus (acks=all), read back from its tail."""

    def __init__(
        self,
        bus: Bus,
        bootstrap: str,
        topic: str,
        zone_id: str,
        *,
        replication_factor: int = 1,
        security: KafkaSecurity | None = None,
    ) -> None:
        # The admin and the tail reader log in as the service's bus does (its SASL user, if any).
        self._options = security.client_options() if security is not None else {}
        self.name = f"anchor topic {topic}"
        self._replication = replication_factor
        self.topic = topic
        self._bus = bus
        self._bootstrap = bootstrap
        self._zone_id = zone_id
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        """Creates the topic (one partition, never deleted), as the service's other topics are made
        (production creates it beforehand, replicated, with its ACLs); warns where it exists with
        a retention."""
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id="audit-anchors-admin", **self._options
        )
        await admin.start()
        try:
            if self.topic not in set(await admin.list_topics()):
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(
                        [
                            NewTopic(
                                self.topic,
                                num_partitions=1,
                                replication_factor=self._replication,
                                topic_configs=TOPIC_CONFIG,
                            )
                        ]
                    )
                # CreateTopics answers before the brokers' metadata shows the topic: wait for it
                # (as KafkaBus.ensure_topics does), so that the topic is there once ensure returns.
                deadline = time.monotonic() + 15.0
                while time.monotonic() < deadline:
                    if self.topic in set(await admin.list_topics()):
                        break
                    await asyncio.sleep(0.1)
            config = await self._config(admin)
        finally:
            await admin.close()
        wrong = {k: config.get(k) for k, v in TOPIC_CONFIG.items() if k in config and config[k] != v}
        if wrong:
            log.warning(
                "the audit anchor topic %s has %s: anchors must never be deleted or compacted (%s)",
                self.topic,
                wrong,
                TOPIC_CONFIG,
            )

    async def _config(self, admin: AIOKafkaAdminClient) -> dict[str, str]:
        resource = ConfigResource(ConfigResourceType.TOPIC, self.topic)
        try:
            responses = await admin.describe_configs([resource])
            return {
                str(entry[0]): str(entry[1])
                for response in responses
                for described in response.resources
                for entry in described[4]
            }
        except (KafkaError, IndexError, TypeError, AttributeError) as error:
            log.warning("could not read the configuration of %s: %s", self.topic, error)
            return {}

    async def append(self, checkpoint: Checkpoint) -> None:
        line = anchor_line(checkpoint, self._zone_id).rstrip("\n").encode()
        await self._bus.publish(self.topic, self._zone_id.encode(), line)

    async def _tail(self) -> list[Checkpoint]:
        async with self._lock:
            if self._consumer is None:
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._bootstrap,
                    group_id=None,
                    enable_auto_commit=False,
                    client_id="audit-anchors-reader",
                    **self._options,
                )
                await consumer.start()
                self._consumer = consumer
            consumer = self._consumer
            partitions = consumer.partitions_for_topic(self.topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()  # noqa: SLF001 - a topic made since start
                partitions = consumer.partitions_for_topic(self.topic) or set()
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            if not assigned:
                return []
            consumer.assign(assigned)
            ends = await consumer.end_offsets(assigned)
            values: list[bytes] = []
            for partition in assigned:
                end = ends[partition]
                if end == 0:
                    continue
                consumer.seek(partition, max(0, end - _TAIL))
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=2000)
                    if not batch:
                        break
                    values.extend(record.value for records in batch.values() for record in records)
        found = []
        for value in values:
            try:
                found.extend(read_anchor_lines([value.decode()], self.name, self._zone_id))
            except (AnchorError, UnicodeDecodeError) as error:
                log.warning("skipping an unreadable record of %s: %s", self.topic, error)
        return found

    async def newest(self) -> Checkpoint | None:
        return newest(await self._tail())

    async def since(self, after_seq: int) -> list[Checkpoint]:
        return [c for c in await self._tail() if c.seq > after_seq]

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        # The topic's tail only: the file holds them all, and the newest is what bounds the log.
        return [
            c for c in await self._tail() if c.seq > after_seq and (last_seq is None or c.seq <= last_seq)
        ]

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
