"""The exchange's topic names: zone.<sender>.<recipient>.reads.v1 and .hotlist.v1, one pair per
sender and recipient. A topic per recipient because Kafka's ACLs are per topic and each neighbour's
agreement differs: on one topic for every neighbour, each would read what any other's agreement
allows. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SharedKind(StrEnum):
    READS = "reads"
    HOTLIST = "hotlist"


@dataclass(frozen=True)
class ZoneTopic:
    sender: str
    recipient: str
    kind: SharedKind


@dataclass(frozen=True)
class ZoneTopics:
    """`prefix` isolates test runs on a shared exchange (as anpr_core.events.Topics)."""

    prefix: str = ""

    def topic(self, sender: str, recipient: str, kind: SharedKind) -> str:
        return f"{self.prefix}zone.{sender}.{recipient}.{kind.value}.v1"

    def reads(self, sender: str, recipient: str) -> str:
        return self.topic(sender, recipient, SharedKind.READS)

    def hotlist(self, sender: str, recipient: str) -> str:
        return self.topic(sender, recipient, SharedKind.HOTLIST)

    def group(self, zone_id: str, name: str) -> str:
        """A consumer group of `zone_id` on the exchange: under its own prefix, which its ACLs allow."""
        return f"{self.prefix}zone.{zone_id}.{name}"

    def parse(self, topic: str) -> ZoneTopic | None:
        """The sender, recipient and kind a topic name says; None for any other name."""
        if not topic.startswith(self.prefix):
            return None
        parts = topic[len(self.prefix) :].split(".")
        if len(parts) != 5 or parts[0] != "zone" or parts[4] != "v1":
            return None
        try:
            kind = SharedKind(parts[3])
        except ValueError:
            return None
        return ZoneTopic(parts[1], parts[2], kind)
