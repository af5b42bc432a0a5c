"""The bus interface every service codes against; Kafka and the in-process bus implement it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Record:
    """One message as consumed, with its position so it can be committed or dead-lettered."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())


class BusUnavailable(RuntimeError):
    """The broker did not acknowledge a record; the caller must not report success."""


class Consumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Leaves the group without committing: what was not committed is delivered again."""

    async def poll(self, timeout_s: float, max_records: int) -> list[Record]: ...

    async def commit(self, records: Sequence[Record]) -> None:
        """Commits, per partition, the position just past the highest of `records`."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Records not yet consumed, per assigned (topic, partition), as last known."""


class Bus(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Returns once the record is durable (acks=all); raises BusUnavailable otherwise."""

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None: ...

    def consumer(self, topics: Sequence[str], group_id: str) -> Consumer:
        """A member of consumer group `group_id`; new groups start from the earliest record."""

    async def ping(self) -> bool: ...


@runtime_checkable
class Replayable(Protocol):
    """A bus that can read a topic's past again, as a service's start-up rebuilds what it held.

    Both buses have it; it is kept apart from `Bus` so that a test's stand-in for `Bus` needs no
    replay it never uses.
    """

    def replay(
        self, topic: str, since_ms: int, until_ms: int | None = None, *, max_records: int = 5000
    ) -> AsyncIterator[list[Record]]:
        """Yields, in batches, the records of every partition of `topic` from the first whose
        timestamp is at or after `since_ms` up to the first at or after `until_ms` (None: each
        partition's end when the replay starts). It reads outside any consumer group: nothing is
        committed and no group's members are disturbed. Windows that meet (one's `since_ms` the
        next one's `until_ms`) split each partition exactly: no record in both, none in neither.
        """
