"""In-process bus with Kafka's semantics: keyed partitions, consumer groups, commits, redelivery.

It backs the embedded mode (`anpr run`), so it is the real thing for one process, not a test fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from anpr_core.bus.base import OutgoingRecord, Record

log = logging.getLogger(__name__)


@dataclass
class _Partition:
    records: list[Record] = field(default_factory=list)
    # Offset of records[0]; older records were trimmed to bound memory.
    base_offset: int = 0

    @property
    def end_offset(self) -> int:
        return self.base_offset + len(self.records)

    def first_at(self, timestamp_ms: int) -> int:
        """The offset of the first record stamped at or after `timestamp_ms` (else the end), as
        Kafka's offsets_for_times finds it."""
        return next((r.offset for r in self.records if r.timestamp_ms >= timestamp_ms), self.end_offset)


@dataclass
class _Group:
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    members: list[MemoryConsumer] = field(default_factory=list)
    # Every topic the group ever subscribed to, kept while members come and go.
    topics: set[str] = field(default_factory=set)


class MemoryBus:
    def __init__(self, partitions: int = 3, retained_per_partition: int = 10_000) -> None:
        self._partitions = partitions
        self._retained = retained_per_partition
        self._topics: dict[str, list[_Partition]] = {}
        self._groups: dict[str, _Group] = {}
        self._round_robin = itertools.count()
        # Replaced by a fresh event at each change: waiters hold the one current when they looked.
        # (An asyncio.Condition with wait_for timeouts can fail to re-acquire its lock on 3.11.)
        self._changed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for group in self._groups.values():
            for member in list(group.members):
                await member.stop()

    async def ping(self) -> bool:
        return True

    async def topic_names(self) -> set[str]:
        """The topics published to or subscribed to so far (as KafkaBus.topic_names)."""
        return set(self._topics)

    def _topic(self, name: str) -> list[_Partition]:
        if name not in self._topics:
            self._topics[name] = [_Partition() for _ in range(self._partitions)]
            # A new topic adds partitions that existing subscribers must be assigned.
            for group in self._groups.values():
                if any(name in member.topics for member in group.members):
                    self._rebalance(group)
        return self._topics[name]

    def _partition_for(self, key: bytes | None) -> int:
        if key is None:
            return next(self._round_robin) % self._partitions
        return zlib.crc32(key) % self._partitions

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self.publish_many([OutgoingRecord(topic, key, value, tuple(headers))])

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        now_ms = int(time.time() * 1000)
        touched: dict[int, _Partition] = {}
        for outgoing in records:
            partitions = self._topic(outgoing.topic)
            index = self._partition_for(outgoing.key)
            partition = partitions[index]
            partition.records.append(
                Record(
                    topic=outgoing.topic,
                    partition=index,
                    offset=partition.end_offset,
                    key=outgoing.key,
                    value=outgoing.value,
                    timestamp_ms=now_ms,
                    headers=outgoing.headers,
                )
            )
            touched[id(partition)] = partition
        # Trimmed once per batch, not per record: each trim moves every retained record.
        for partition in touched.values():
            overflow = len(partition.records) - self._retained
            if overflow > 0:
                del partition.records[:overflow]
                partition.base_offset += overflow
        self._notify()

    async def replay(
        self, topic: str, since_ms: int, until_ms: int | None = None, *, max_records: int = 5000
    ) -> AsyncIterator[list[Record]]:
        """See `Replayable.replay`: here, no group at all is involved."""
        partitions = self._topics.get(topic, [])
        bounds = [
            (
                partition.first_at(since_ms),
                partition.end_offset if until_ms is None else partition.first_at(until_ms),
            )
            for partition in partitions
        ]
        for partition, (position, end) in zip(partitions, bounds, strict=True):
            while True:
                # Records published since are past `end`; records trimmed since are gone.
                position = max(position, partition.base_offset)
                if position >= end:
                    break
                start = position - partition.base_offset
                chunk = partition.records[start : start + min(max_records, end - position)]
                position += len(chunk)
                yield chunk

    def pending(self) -> int:
        """Records that consumer groups have not committed yet; 0 when the pipeline is idle.

        A group counts while its members restart, so an idle check does not pass during a retry.
        """
        total = 0
        for group in self._groups.values():
            for topic in group.topics:
                for index, partition in enumerate(self._topics.get(topic, [])):
                    total += partition.end_offset - max(
                        group.committed.get((topic, index), 0), partition.base_offset
                    )
        return total

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def consumer(self, topics: Sequence[str], group_id: str) -> MemoryConsumer:
        return MemoryConsumer(self, list(topics), group_id)

    # Group coordination: the bus is the coordinator, as the broker is for Kafka.
    def _join(self, member: MemoryConsumer) -> None:
        for topic in member.topics:
            self._topic(topic)
        group = self._groups.setdefault(member.group_id, _Group())
        group.members.append(member)
        group.topics.update(member.topics)
        self._rebalance(group)

    def _leave(self, member: MemoryConsumer) -> None:
        group = self._groups.get(member.group_id)
        if group and member in group.members:
            group.members.remove(member)
            self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        """Spreads every subscribed partition over the members, round robin, like Kafka's assignors.

        Each member restarts from the committed offsets: what it had polled but not committed
        comes again, which is the at-least-once contract.
        """
        for member in group.members:
            member._assign({})
        subscribed = sorted({topic for member in group.members for topic in member.topics})
        slots = [(topic, index) for topic in subscribed for index in range(len(self._topics.get(topic, [])))]
        assignment: dict[int, dict[tuple[str, int], int]] = {i: {} for i in range(len(group.members))}
        members_of: dict[str, list[int]] = {
            topic: [i for i, m in enumerate(group.members) if topic in m.topics] for topic in subscribed
        }
        for n, (topic, index) in enumerate(slots):
            candidates = members_of[topic]
            owner = candidates[n % len(candidates)]
            start = max(group.committed.get((topic, index), 0), self._topics[topic][index].base_offset)
            assignment[owner][(topic, index)] = start
        for i, member in enumerate(group.members):
            member._assign(assignment[i])

    def _commit(self, member: MemoryConsumer, offsets: dict[tuple[str, int], int]) -> None:
        group = self._groups.get(member.group_id)
        if group is None:
            return
        for slot, offset in offsets.items():
            # Like Kafka, only the current owner may commit; a revoked partition's records
            # are redelivered to its new owner.
            if slot in member.positions:
                group.committed[slot] = max(group.committed.get(slot, 0), offset)
            else:
                log.debug("commit for revoked partition %s ignored", slot)


class MemoryConsumer:
    def __init__(self, bus: MemoryBus, topics: list[str], group_id: str) -> None:
        self._bus = bus
        self.topics = topics
        self.group_id = group_id
        self.positions: dict[tuple[str, int], int] = {}
        self._running = False

    def _assign(self, positions: dict[tuple[str, int], int]) -> None:
        self.positions = dict(positions)

    async def start(self) -> None:
        if not self._running:
            self._running = True
            self._bus._join(self)

    async def stop(self) -> None:
        if self._running:
            self._running = False
            self._bus._leave(self)
            # A departed member owns nothing: a late commit must not move the group's offsets.
            self.positions = {}
            self._bus._notify()

    def _take(self, max_records: int) -> list[Record]:
        taken: list[Record] = []
        for slot, position in sorted(self.positions.items()):
            partition = self._bus._topics[slot[0]][slot[1]]
            position = max(position, partition.base_offset)
            start = position - partition.base_offset
            chunk = partition.records[start : start + (max_records - len(taken))]
            if chunk:
                taken.extend(chunk)
                self.positions[slot] = chunk[-1].offset + 1
            if len(taken) >= max_records:
                break
        return taken

    async def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        if not self._running:
            raise RuntimeError("consumer is not started")
        deadline = time.monotonic() + timeout_s
        while True:
            records = self._take(max_records)
            remaining = deadline - time.monotonic()
            if records or remaining <= 0 or not self._running:
                return records
            # No await since _take, so no publish can have slipped in between.
            changed = self._bus._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)

    async def commit(self, records: Sequence[Record]) -> None:
        offsets: dict[tuple[str, int], int] = {}
        for record in records:
            slot = (record.topic, record.partition)
            offsets[slot] = max(offsets.get(slot, 0), record.offset + 1)
        self._bus._commit(self, offsets)

    def lag(self) -> dict[tuple[str, int], int]:
        return {
            slot: self._bus._topics[slot[0]][slot[1]].end_offset - position
            for slot, position in self.positions.items()
        }
