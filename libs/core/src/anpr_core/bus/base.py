"""The bus interface every service codes against; Kafka and the in-process bus implement it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


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
