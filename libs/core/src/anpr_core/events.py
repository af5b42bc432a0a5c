"""Topic names and the metadata every event carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from anpr.v1 import common_pb2
from anpr_core.ids import new_event_id

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Topics:
    """The platform's topics; `prefix` isolates test runs on a shared broker."""

    prefix: str = ""

    @property
    def frames(self) -> str:
        return f"{self.prefix}anpr.frames.v1"

    @property
    def reads(self) -> str:
        return f"{self.prefix}anpr.reads.v1"

    @property
    def passages(self) -> str:
        """One event per vehicle passing a camera (detect), keyed by camera_id."""
        return f"{self.prefix}anpr.passages.v1"

    @property
    def hits(self) -> str:
        return f"{self.prefix}anpr.hits.v1"

    @property
    def hotlist(self) -> str:
        return f"{self.prefix}anpr.hotlist.v1"

    @property
    def audit(self) -> str:
        return f"{self.prefix}anpr.audit.v1"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}anpr.dlq.v1"

    @property
    def cameras(self) -> str:
        """The camera register's entries (ingest), compacted, keyed by camera_id: which cameras are
        border cameras, for the sharing agreements that cover them."""
        return f"{self.prefix}anpr.cameras.v1"

    @property
    def shared_reads(self) -> str:
        """Reads a neighbour zone shared, accepted by share under an agreement (access stores them)."""
        return f"{self.prefix}anpr.shared.reads.v1"

    @property
    def shared_hotlist(self) -> str:
        """Hotlist records a neighbour zone shared, accepted by share, and the end of a sharing (match)."""
        return f"{self.prefix}anpr.shared.hotlist.v1"

    def group(self, name: str) -> str:
        """Consumer group ids share the prefix, so isolated runs never join each other's groups."""
        return f"{self.prefix}{name}"

    def all(self) -> list[str]:
        return [
            self.frames,
            self.reads,
            self.passages,
            self.hits,
            self.hotlist,
            self.audit,
            self.dlq,
            self.cameras,
            self.shared_reads,
            self.shared_hotlist,
        ]

    def compacted(self) -> set[str]:
        return {self.hotlist, self.cameras}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_timestamp(moment: datetime) -> Timestamp:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time in Schild is timezone-aware")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def new_meta(zone_id: str, producer: str, occurred_at: datetime | None = None) -> common_pb2.EventMeta:
    return common_pb2.EventMeta(
        event_id=new_event_id(),
        occurred_at=to_timestamp(occurred_at or utcnow()),
        zone_id=zone_id,
        schema_version=SCHEMA_VERSION,
        producer=producer,
    )
