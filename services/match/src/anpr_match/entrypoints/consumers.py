"""Match's bus consumers: each decodes a record and hands it to its handler; the worker commits the
offset only after what the comment of each consumer names is durable (anpr_core.consume)."""

from __future__ import annotations

from anpr.v1 import read_pb2
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker, PoisonMessage, ServiceConsumers
from anpr_core.ids import new_event_id
from anpr_core.metrics import HOTLIST_ENTRIES_INDEXED
from anpr_match.adapters.codecs import hit_view, hotlist_change_of, seen_read_of, shared_change_of
from anpr_match.entrypoints.stream import HitStream
from anpr_match.handlers.context import HotlistPorts
from anpr_match.handlers.matching import MatchPipeline, on_hotlist_change, on_read
from anpr_match.handlers.partners import NotTheirs, take_partner_changes


class MatchConsumers:
    """The consumers of a replica: the hotlist into its index, reads into matching, hits into its
    live stream, and neighbour zones' shared hotlists into the hotlist."""

    def __init__(
        self,
        consumers: ServiceConsumers,
        pipeline: MatchPipeline,
        stream: HitStream,
        *,
        replica: str,
        indexed_here: tuple[str, bytes],
        started_ms: int,
        hotlist_ports: HotlistPorts,
    ) -> None:
        self._pipeline = pipeline
        self._hotlist_ports = hotlist_ports
        self._stream = stream
        self._indexed_here = indexed_here
        self._started_ms = started_ms
        topics = consumers.topics
        # Every replica reads the whole hotlist topic into its own index, so no replica is special:
        # a group id new at each start has no committed offsets, so it replays from the beginning.
        self._workers: tuple[ConsumerWorker, ...] = (
            consumers.worker(
                topics.hotlist, f"match-index-{replica}", self.on_hotlist_record, max_records=5000
            ),
            consumers.worker(topics.reads, "match", self.on_read_record, max_records=500),
            # Likewise every replica streams every replica's hits to its own SSE subscribers.
            consumers.worker(
                topics.hits, f"match-stream-{new_event_id()}", self.on_hit_record, max_records=1000
            ),
            # One group for every replica: each neighbour's change is stored once, then indexed by
            # every replica from the hotlist topic, as this zone's own changes are.
            consumers.batch_worker(
                topics.shared_hotlist, "match-shared-hotlist", self.on_shared_hotlist, max_records=1000
            ),
        )

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    async def stop(self) -> None:
        for worker in reversed(self._workers):
            await worker.stop()

    async def on_hotlist_record(self, record: Record) -> None:
        # 1. the change is applied to this replica's index (memory; the compacted topic is its
        #    record, replayed from the start by a group new at each start, so nothing is lost);
        # 2. an entry is queued for its look-back (hits of that are stored and published by it);
        # 3. the worker commits the offset.
        if self._indexed_here in record.headers:
            return
        try:
            change = hotlist_change_of(record.headers, record.value)
            on_hotlist_change(self._pipeline, change, published_ms=record.timestamp_ms)
        except ValueError as error:
            raise PoisonMessage(f"hotlist record {record.key!r} is invalid: {error}") from error
        finally:
            HOTLIST_ENTRIES_INDEXED.set(len(self._pipeline.index))

    async def on_read_record(self, record: Record) -> None:
        # 1. the read is kept for the look-back and matched; 2. its hits are stored (idempotent on
        #    read and entry); 3. they are published (acknowledged by the broker); 4. the worker
        #    commits the offset. A failure at 2 or 3 commits nothing: the read comes again.
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        if not read.meta.event_id:
            raise PoisonMessage("read without event_id")
        await on_read(self._pipeline, seen_read_of(read))

    async def on_shared_hotlist(self, records: list[Record]) -> None:
        # 1. the neighbours' lists and entries (or their end) stored with their events and the
        #    batch's audit record (outbox rows), committed; 2. the worker commits the offsets; 3. the
        #    relay publishes the events to the hotlist topic, which every replica's index consumes.
        # A record that may not be taken (another zone's list or entry, a bad field) fails the batch:
        # the records are then taken one by one, and that one goes to the DLQ.
        try:
            changes = [shared_change_of(record.headers, record.value) for record in records]
            await take_partner_changes(self._hotlist_ports, changes)
        except (NotTheirs, ValueError) as error:
            raise PoisonMessage(f"shared hotlist record refused: {error}") from error

    async def on_hit_record(self, record: Record) -> None:
        # 1. the hit is handed to this replica's live subscribers (memory only: GET /v1/hits is its
        #    record); 2. the worker commits the offset.
        # The stream shows hits raised from now on; earlier ones are on GET /v1/hits.
        if record.timestamp_ms and record.timestamp_ms < self._started_ms:
            return
        self._stream.offer(hit_view(record.value))
