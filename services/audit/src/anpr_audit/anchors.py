"""Anchors: each signed checkpoint, kept outside the database too, where the log's writer cannot
rewrite it. A wiped log, a cut tail or a restored older backup is then caught by comparing the
database with the newest anchor (chain.ChainCheck).

Two places, each a JSON line per checkpoint (`anchor_line`), readable with the public key alone:
- a file the auditor keeps (`AnchorFile`): opened for appending only, on a volume of its own,
  made append-only (`chattr +a`: not even its owner may then rewrite or truncate it) and
  copied off by the auditor; the embedded mode keeps it under the data directory. The
  in-process bus is no anchor: it lives and dies with the process that writes the log.
- a Kafka topic (`AnchorTopic`, anpr.audit.anchors.v1): one partition, records deleted never
  (cleanup.policy=delete, retention unlimited: compaction would let a later record replace an
  earlier one), writable by the audit service's principal only and deletable by no one but the
  cluster's administrators (ACLs; see the README).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from prometheus_client import Counter

from anpr_audit.domain.chain import from_micros
from anpr_audit.domain.checkpoints import Checkpoint, newest
from anpr_core.bus import Bus

log = logging.getLogger(__name__)

FORMAT = "schild-audit-anchor/1"
TOPIC = "anpr.audit.anchors.v1"
TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
# How many of the newest records of each partition are read to find the newest anchor: replicas
# may publish a little out of order.
_TAIL = 16
# FS_IOC_GETFLAGS and its append-only flag (linux/fs.h), to tell whether chattr +a was done.
_FS_IOC_GETFLAGS = 0x80086601
_FS_APPEND_FL = 0x00000020

ANCHOR_FAILURES = Counter(
    "anpr_audit_anchor_failures_total", "Signed checkpoints an anchor store did not take", ["store"]
)


class AnchorError(ValueError):
    """An anchor store or line cannot be used; the message says which and why."""


def anchor_topic(prefix: str = "") -> str:
    return f"{prefix}{TOPIC}"


def anchor_record(checkpoint: Checkpoint, zone_id: str) -> dict[str, Any]:
    return {
        "type": "anchor",
        "format": FORMAT,
        "zone_id": zone_id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": from_micros(checkpoint.created_us).isoformat(),
        "created_us": checkpoint.created_us,
        "key_id": checkpoint.key_id,
        "signature_b64": base64.b64encode(checkpoint.signature).decode(),
    }


def anchor_line(checkpoint: Checkpoint, zone_id: str) -> str:
    return json.dumps(anchor_record(checkpoint, zone_id), sort_keys=True, separators=(",", ":")) + "\n"


def parse_anchor(record: Any, source: str) -> Checkpoint:
    """A checkpoint from an anchor line's record (or an export's checkpoint record)."""
    if not isinstance(record, dict) or record.get("type") not in ("anchor", "checkpoint"):
        raise AnchorError("not an anchor record (a JSON object of type 'anchor')")
    try:
        checkpoint = Checkpoint(
            int(record["seq"]),
            str(record["head_hash"]),
            int(record["created_us"]),
            str(record["key_id"]),
            base64.b64decode(record["signature_b64"], validate=True),
            source,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise AnchorError(f"an anchor record without a valid {error}") from error
    if checkpoint.seq < 1 or len(checkpoint.head_hash) != 64:
        raise AnchorError("an anchor record with an impossible seq or head hash")
    return checkpoint


def read_anchor_lines(lines: Iterable[str], source: str, zone_id: str | None = None) -> list[Checkpoint]:
    """Every anchor of `lines` (of `zone_id` only, where given); an unreadable line is an error
    naming it."""
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            checkpoint = parse_anchor(record, source)
        except (ValueError, AnchorError) as error:
            raise AnchorError(f"{source}, line {number}: {error}") from error
        if zone_id is None or record.get("zone_id") in (None, zone_id):
            found.append(checkpoint)
    return found


class AnchorStore(Protocol):
    name: str

    async def append(self, checkpoint: Checkpoint) -> None:
        """Returns once the anchor is durable; raises otherwise."""

    async def newest(self) -> Checkpoint | None: ...

    async def since(self, after_seq: int) -> list[Checkpoint]:
        """Anchors beyond `after_seq`, cheaply: only what was added since the last call is read.
        `after_seq` never decreases from call to call."""

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        """The anchors the store holds in (after_seq, last_seq]: all of them for the file."""

    async def close(self) -> None: ...


def append_only(path: Path) -> bool | None:
    """Whether the file carries the append-only attribute; None where the file system cannot tell."""
    try:
        with path.open("rb") as handle:
            flags = fcntl.ioctl(handle.fileno(), _FS_IOC_GETFLAGS, struct.pack("l", 0))
    except OSError:
        return None
    return bool(struct.unpack("l", flags)[0] & _FS_APPEND_FL)


class AnchorFile:
    """The auditor's file: JSON lines, opened O_APPEND (and fsynced) by the service, never rewritten."""

    def __init__(self, path: Path, zone_id: str) -> None:
        self.path = path
        self.name = f"anchor file {path}"
        self._zone_id = zone_id
        self._fd: int | None = None
        self._offset = 0
        self._partial = b""
        self._recent: list[Checkpoint] = []
        self._newest: Checkpoint | None = None
        self._lock = asyncio.Lock()

    def open(self) -> None:
        """Opens the file for appending (creating it, mode 0640); fails with what to do."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as error:
            raise AnchorError(
                f"the audit anchor file {self.path} cannot be opened for appending ({error.strerror}): "
                "give the service a volume of its own there (ANPR_AUDIT_ANCHOR_FILE)"
            ) from error
        size = os.fstat(fd).st_size
        if size:
            # A line cut by a crash stays a line of its own, never the start of the next anchor.
            with self.path.open("rb") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    os.write(fd, b"\n")
        self._fd = fd
        if append_only(self.path) is False:
            log.warning(
                "the audit anchor file %s is not append-only: `chattr +a` it (as root) so that no "
                "one, the service included, can rewrite it",
                self.path,
            )

    async def append(self, checkpoint: Checkpoint) -> None:
        if self._fd is None:
            self.open()
        fd = self._fd
        assert fd is not None  # noqa: S101 - opened above
        line = anchor_line(checkpoint, self._zone_id).encode()

        def write() -> None:
            os.write(fd, line)  # one write of one line: O_APPEND keeps lines whole
            os.fsync(fd)

        await asyncio.to_thread(write)

    def _lines(self) -> Iterable[str]:
        try:
            with self.path.open("rb") as handle:
                for raw in handle:
                    if raw.endswith(b"\n"):
                        yield raw.decode("utf-8", errors="replace")
        except FileNotFoundError:
            return

    def _parse(self, lines: Iterable[str]) -> list[Checkpoint]:
        found = []
        for line in lines:
            if not line.strip():
                continue
            try:
                found.extend(read_anchor_lines([line], self.name, self._zone_id))
            except AnchorError as error:
                # A crash's cut line, or something appended by hand: it vouches for nothing.
                log.warning("skipping an unreadable line of %s: %s", self.path, error)
        return found

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        def scan() -> list[Checkpoint]:
            return [
                c
                for c in self._parse(self._lines())
                if c.seq > after_seq and (last_seq is None or c.seq <= last_seq)
            ]

        return await asyncio.to_thread(scan)

    async def _follow(self) -> None:
        """Reads what was appended since the last call (by this process or another replica)."""

        def read_new() -> tuple[bytes, int]:
            try:
                with self.path.open("rb") as handle:
                    handle.seek(self._offset)
                    data = handle.read()
            except FileNotFoundError:
                return b"", self._offset
            return data, self._offset + len(data)

        data, self._offset = await asyncio.to_thread(read_new)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if complete:
            added = await asyncio.to_thread(
                self._parse, complete.decode("utf-8", errors="replace").splitlines()
            )
            self._recent.extend(added)
            self._newest = newest([self._newest, *added])

    async def newest(self) -> Checkpoint | None:
        async with self._lock:
            await self._follow()
            return self._newest

    async def since(self, after_seq: int) -> list[Checkpoint]:
        async with self._lock:
            await self._follow()
            self._recent = [c for c in self._recent if c.seq > after_seq]
            return list(self._recent)

    async def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AnchorTopic:
    """The Kafka topic: published through the service's bus (acks=all), read back from its tail."""

    def __init__(
        self, bus: Bus, bootstrap: str, topic: str, zone_id: str, *, replication_factor: int = 1
    ) -> None:
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
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="audit-anchors-admin")
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


async def gather_anchors(stores: Sequence[AnchorStore], method: str, *args: int | None) -> list[Checkpoint]:
    """Calls `method` on every store; a store that fails is logged and counted, never fatal, since
    the others (and the database's checkpoints) still count."""
    found: list[Checkpoint] = []
    for store in stores:
        try:
            result = await getattr(store, method)(*args)
        except (OSError, KafkaError, AnchorError, TimeoutError) as error:
            ANCHOR_FAILURES.labels(store.name.split(" ")[1]).inc()
            log.error("the %s could not be read: %s", store.name, error)
            continue
        if isinstance(result, Checkpoint):
            found.append(result)
        elif result is not None:
            found.extend(result)
    return found
