"""The message bus: one interface, Kafka for deployments and an in-process bus for the embedded mode."""

from anpr_core.bus.base import Bus, BusUnavailable, Consumer, OutgoingRecord, Record, Replayable
from anpr_core.bus.memory import MemoryBus

__all__ = ["Bus", "BusUnavailable", "Consumer", "MemoryBus", "OutgoingRecord", "Record", "Replayable"]
