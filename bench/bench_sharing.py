"""Cross-zone sharing on real Kafka: reads shared per second through share's bridge, with the
disclosure audit on, against the bare consume-produce of the same records, in the same run.

The same N reads (camera-side reads with a 4 KB plate crop, as smart cameras send them, on 20
cameras) are on the reads topic. Each contender is a consumer group that reads them all, 500 a poll:
- the bridge (anpr_share.handlers.share_out.share_reads, as the service runs it): decode each read,
  find the agreement that covers its camera, minimise it to the agreement's fields (plate, time,
  camera, direction, confidence: the crop stays), publish one share_out audit event per 200 records
  (acks=all), then the records on the neighbour's topic (acks=all), then commit;
- the baseline: publish each record as it came to another topic (acks=all), then commit.
They run in turn, twice each (A B A B), on the shared broker; the medians are reported, with the
CPU seconds of this process per 1,000 reads.

Run with the loopback infrastructure: `eval "$(scripts/infra.sh env)"; python -m bench.bench_sharing`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

from anpr.v1 import common_pb2, read_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.bus import OutgoingRecord, Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.consume import ConsumerWorker
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_share.adapters.codecs import ShareCodec
from anpr_share.domain.agreements import DEFAULT_FIELDS, Agreement, ReadField, ReadScope, Terms
from anpr_share.domain.book import AgreementBook
from anpr_share.domain.zone_topics import ZoneTopics
from anpr_share.handlers.ports import Agreements, SharePorts
from anpr_share.handlers.share_out import share_reads
from bench.common import delete_topics, write_result

READS = int(os.environ.get("BENCH_SHARING_READS", "30000"))
CAMERAS = 20
BATCH = 500
ZONE, NEIGHBOUR = "5344", "5388"


def _bootstrap() -> str:
    bootstrap = os.environ.get("ANPR_KAFKA_BOOTSTRAP")
    if bootstrap:
        return bootstrap
    exports = subprocess.run(["scripts/infra.sh", "env"], capture_output=True, text=True, check=True).stdout
    for line in exports.splitlines():
        if line.startswith("export ANPR_KAFKA_BOOTSTRAP="):
            return line.split("=", 1)[1]
    raise SystemExit('no Kafka: run `eval "$(scripts/infra.sh up)"` first')


def _reads() -> list[OutgoingRecord]:
    crop = os.urandom(4096)
    now = datetime.now(UTC)
    out = []
    for n in range(READS):
        camera = f"cam-{n % CAMERAS:02d}"
        read = read_pb2.PlateRead(
            meta=new_meta(ZONE, "ingest"),
            camera_id=camera,
            captured_at=to_timestamp(now - timedelta(milliseconds=READS - n)),
            direction=common_pb2.DIRECTION_IN,
            plate=f"1ABC{n % 1000:03d}",
            formatted=f"1-ABC-{n % 1000:03d}",
            country="BE",
            format_valid=True,
            confidence=0.97,
            plate_crop=crop,
            camera_read=True,
            reader="camera",
        )
        out.append(OutgoingRecord("", camera.encode(), read.SerializeToString()))
    return out


def _agreement(fields: frozenset[ReadField] = DEFAULT_FIELDS) -> Agreement:
    now = datetime.now(UTC)
    terms = Terms(
        reference="AGR-BENCH",
        legal_basis="art. 44/11/3septies WPA",
        valid_from=now - timedelta(days=1),
        valid_until=None,
        reads_out=ReadScope(camera_ids=frozenset(f"cam-{n:02d}" for n in range(CAMERAS)), fields=fields),
    )
    return Agreement("bench-agreement", NEIGHBOUR, terms, "bench", now, now)


async def _drain(
    bus: KafkaBus, topics: Topics, group: str, handle: Callable[[list[Record]], Awaitable[None]]
) -> dict[str, float]:
    """Runs one consumer group over every read with `handle`; returns its rate and CPU, from the
    first batch handled on (the group's join is not the contender's work)."""
    done = asyncio.Event()
    handled = 0
    first: list[float] = []

    async def on_batch(records: list[Record]) -> None:
        nonlocal handled
        await handle(records)
        handled += len(records)
        if not first:
            first[:] = [time.perf_counter(), time.process_time(), handled]
        if handled >= READS:
            done.set()

    worker = ConsumerWorker(
        bus,
        topics=[topics.reads],
        group_id=topics.group(group),
        batch_handler=on_batch,
        dlq_topic=topics.dlq,
        service="bench",
        zone_id=ZONE,
        max_records=BATCH,
    )
    worker.start()
    await asyncio.wait_for(done.wait(), timeout=600)
    started, cpu, counted = first
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await worker.stop()
    measured = READS - counted
    return {"per_s": measured / elapsed, "cpu_ms_per_1000": 1_000_000 * cpu / measured}


async def main() -> None:
    bootstrap = _bootstrap()
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    topics = Topics(prefix)
    zone_topics = ZoneTopics(prefix)
    bus = KafkaBus(bootstrap, client_id="bench-sharing", topics=topics.all(), compacted=topics.compacted())
    await bus.start()
    try:
        await bus.ensure_topics([zone_topics.reads(ZONE, NEIGHBOUR), f"{prefix}baseline.v1"])
        records = [OutgoingRecord(topics.reads, r.key, r.value) for r in _reads()]
        for start in range(0, len(records), 2000):
            await bus.publish_many(records[start : start + 2000])
        book = AgreementBook(ZONE)
        book.load([_agreement()])
        with_crop = AgreementBook(ZONE)
        with_crop.load([_agreement(DEFAULT_FIELDS | {ReadField.CROP})])
        ports = SharePorts(
            zone_id=ZONE,
            book=book,
            flow=asyncio.Lock(),
            store=cast(Agreements, None),  # the bridge never asks the store
            audit=AuditTrail(bus, topics.audit, ZONE, "share"),
            codec=ShareCodec(ZONE),
            bus=bus,
            exchange=bus,
            topics=topics,
            zone_topics=zone_topics,
        )

        crop_ports = replace(ports, book=with_crop)

        async def bridge(batch: list[Record]) -> None:
            await share_reads(ports, [record.value for record in batch])

        async def bridge_with_crop(batch: list[Record]) -> None:
            await share_reads(crop_ports, [record.value for record in batch])

        async def bare(batch: list[Record]) -> None:
            await bus.publish_many([OutgoingRecord(f"{prefix}baseline.v1", r.key, r.value) for r in batch])

        contenders = {"bridge": bridge, "baseline": bare, "bridge_with_crop": bridge_with_crop}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
        for round_ in range(2):
            for name, handle in contenders.items():
                runs[name].append(await _drain(bus, topics, f"{name}-{round_}", handle))
    finally:
        await bus.stop()
        await delete_topics(bootstrap, prefix)

    def median(name: str, key: str) -> float:
        return round(statistics.median(run[key] for run in runs[name]), 1)

    metrics = {
        "reads_shared_per_s": median("bridge", "per_s"),
        "cpu_ms_per_1000_reads": median("bridge", "cpu_ms_per_1000"),
        "with_crop_reads_shared_per_s": median("bridge_with_crop", "per_s"),
        "with_crop_cpu_ms_per_1000_reads": median("bridge_with_crop", "cpu_ms_per_1000"),
        "reads": READS,
        "disclosure_events_per_1000_reads": 1000 / 200,
    }
    baseline = {
        "reads_shared_per_s": median("baseline", "per_s"),
        "cpu_ms_per_1000_reads": median("baseline", "cpu_ms_per_1000"),
    }
    notes = (
        f"{READS} camera-side reads (4 KB crop) on {CAMERAS} cameras, {BATCH} a poll, on the shared broker; "
        "bridge: decode, agreement, minimise to plate/time/camera/direction/confidence, one share_out audit "
        "event per 200 reads (acks=all) then the records (acks=all); with_crop: the agreement shares the "
        "crop too (records as large as the baseline's); baseline: the same records republished as they came. "
        f"Rates from each group's first batch on; medians of 2 runs each, in turn. Every run: {runs}"
    )
    path = write_result("sharing", metrics, baseline, notes)
    print(f"bench_sharing: {metrics} against {baseline} -> {path}")


if __name__ == "__main__":
    asyncio.run(main())
