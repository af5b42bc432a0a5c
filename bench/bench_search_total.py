"""Access on PostgreSQL: what the total of a search costs, next to the page it comes with.

The bench makes a fresh database with bench_access.py's sizes (BENCH_ACCESS_ROWS reads, default
10M, over 12 months, 60 cameras), fused three reads to a passage as detect does, with one passage
in twenty never stored (its reads are items of their own). It then times, through access's own
adapters, the page of 100 passages (SearchStore.find_passages) and the count of every passage the
search finds (SearchTotals.count_passages): capped at COUNT_CAP, and exact (the baseline), for a
plate, a fuzzy key, and a camera over an hour, a day, a week, a month and a year.

A size other than the default writes bench/results/search_total_<size>m.json.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.migrations import HISTORY
from anpr_access.adapters.partitions import ensure_partitions, make_partitions_ahead
from anpr_access.adapters.search import SearchStore
from anpr_access.adapters.search_total import SearchTotals
from anpr_access.adapters.tables import SCHEMA, passage_reads, passages, reads
from anpr_access.domain.retention import Month
from anpr_access.domain.search import ReadCriteria
from anpr_access.handlers.search import COUNT_CAP
from anpr_core.db import make_engine
from anpr_core.migrations import migrate
from bench.bench_access import (
    CAMERAS,
    COLUMNS,
    NOW,
    PLATES,
    REPO,
    ROWS,
    SPAN,
    database_url,
    drop_database,
    plate,
    plate_key,
)
from bench.common import percentile, write_result
from schild.progress import progress

DEFAULT_ROWS = 10_000_000
READS_PER_PASSAGE = 3
LOST_ONE_IN = 20
PAGE = 100
EXACT = 10**12
# The caps measured; the one access ships (COUNT_CAP) is written as <kind>_total, the others with theirs.
CAPS = sorted({1_000, 2_000, 5_000, 10_000, COUNT_CAP})
WINDOWS = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
    "year": timedelta(days=360),
}
REPEATS = {"plate": 100, "fuzzy": 100, "hour": 100, "day": 50, "week": 30, "month": 20, "year": 10}

PASSAGE_COLUMNS = [
    "passage_id", "event_id", "zone_id", "camera_id", "direction", "first_seen", "last_seen", "plate",
    "plate_key", "formatted", "country", "confidence", "read_count", "stored_at",
]  # fmt: skip


def generate(count: int, rng: random.Random) -> tuple[list[tuple[object, ...]], ...]:
    """Reads of `count` // 3 passages, the passages stored, and the passage_reads rows."""
    start = NOW - SPAN + timedelta(hours=1)
    span_s = int((SPAN - timedelta(hours=2)).total_seconds())
    read_rows: list[tuple[object, ...]] = []
    passage_rows: list[tuple[object, ...]] = []
    member_rows: list[tuple[object, ...]] = []
    for _ in range(count // READS_PER_PASSAGE):
        number = plate(rng.randrange(PLATES))
        key = plate_key(number)
        camera = f"cam-{rng.randrange(CAMERAS):03d}"
        direction = "in" if rng.random() < 0.5 else "out"
        first = start + timedelta(seconds=rng.randrange(span_s))
        ids = [str(uuid.uuid4()) for _ in range(READS_PER_PASSAGE)]
        stored = rng.randrange(LOST_ONE_IN) != 0
        passage_id = f"{camera}:{ids[0]}" if stored else None
        for n, read_id in enumerate(ids):
            at = first + timedelta(seconds=n)
            read_rows.append(
                (read_id, at, "5344", camera, direction, number, key, number, "BE", True, 0.9, "[]",
                 "[0,0,0,0]", "", False, "bench", None, None, at, passage_id)
            )  # fmt: skip
            if passage_id:
                member_rows.append((read_id, passage_id, first))
        if passage_id:
            last = first + timedelta(seconds=READS_PER_PASSAGE - 1)
            passage_rows.append(
                (passage_id, ids[0], "5344", camera, direction, first, last, number, key, number, "BE",
                 0.9, READS_PER_PASSAGE, last)
            )  # fmt: skip
    return read_rows, passage_rows, member_rows


async def load(url: str, engine: AsyncEngine) -> dict[str, float]:
    """COPY into the partitioned reads, passages and passage_reads; indexes built after, in bulk."""
    await migrate(engine, None, HISTORY)  # `anpr migrate access`
    await make_partitions_ahead(engine, NOW)
    month, months = Month.of(NOW - SPAN), []
    while month <= Month.of(NOW):
        months.append(month)
        month = month.next()
    await ensure_partitions(engine, months)
    tables = (reads, passages, passage_reads)
    async with engine.begin() as sa_conn:
        for table in tables:
            for index in table.indexes:
                await sa_conn.execute(text(f'DROP INDEX "{SCHEMA}"."{index.name}"'))
    conn = await asyncpg.connect(url)
    generate_s = copy_s = 0.0
    rng = random.Random(7)
    try:
        with progress("reads loaded", ROWS) as advance:
            for chunk in range(0, ROWS, 300_000):
                t0 = time.perf_counter()
                read_rows, passage_rows, member_rows = generate(min(300_000, ROWS - chunk), rng)
                t1 = time.perf_counter()
                await conn.copy_records_to_table(
                    "reads", schema_name=SCHEMA, columns=[*COLUMNS, "passage_id"], records=read_rows
                )
                await conn.copy_records_to_table(
                    "passages", schema_name=SCHEMA, columns=PASSAGE_COLUMNS, records=passage_rows
                )
                await conn.copy_records_to_table(
                    "passage_reads",
                    schema_name=SCHEMA,
                    columns=["read_id", "passage_id", "first_seen"],
                    records=member_rows,
                )
                generate_s += t1 - t0
                copy_s += time.perf_counter() - t1
                advance(len(read_rows))
    finally:
        await conn.close()
    t0 = time.perf_counter()
    async with engine.begin() as sa_conn:
        for table in tables:
            for index in table.indexes:
                await sa_conn.run_sync(index.create)
    index_s = time.perf_counter() - t0
    conn = await asyncpg.connect(url)
    try:
        for table in tables:
            await conn.execute(f"VACUUM ANALYZE {SCHEMA}.{table.name}")
    finally:
        await conn.close()
    return {"generate_s": generate_s, "copy_s": copy_s, "index_s": index_s}


async def timed(repeats: int, call: Callable[[int], Awaitable[int]]) -> tuple[list[float], list[int]]:
    timings, sizes = [], []
    for n in range(repeats):
        t0 = time.perf_counter()
        sizes.append(await call(n))
        timings.append((time.perf_counter() - t0) * 1000)
    return timings, sizes


def criteria_for(kind: str, rng: random.Random) -> ReadCriteria:
    if kind in ("plate", "fuzzy"):
        number = plate(rng.randrange(PLATES))
        return ReadCriteria(
            window_start=NOW - SPAN,
            window_end=NOW,
            plate=number if kind == "plate" else None,
            plate_key=plate_key(number) if kind == "fuzzy" else None,
            camera_id=None,
            direction=None,
            offset=0,
            limit=PAGE,
        )
    window = WINDOWS[kind]
    end = NOW - timedelta(seconds=rng.randrange(int((SPAN - window).total_seconds())))
    return ReadCriteria(end - window, end, None, None, f"cam-{rng.randrange(CAMERAS):03d}", None, 0, PAGE)


async def measure(url: str, engine: AsyncEngine) -> tuple[dict[str, float], dict[str, float], str]:
    loading = await load(url, engine)
    store, totals = SearchStore(engine), SearchTotals(engine)
    metrics: dict[str, float] = {"rows": float(ROWS)}
    baseline: dict[str, float] = {}
    found: dict[str, float] = {}
    for kind, repeats in REPEATS.items():
        rng = random.Random(zlib.crc32(kind.encode()))
        asked = [criteria_for(kind, rng) for _ in range(repeats)]

        async def page(n: int, asked: list[ReadCriteria] = asked) -> int:
            return len(await store.find_passages(asked[n]))

        def counted(cap: int, asked: list[ReadCriteria] = asked) -> Callable[[int], Awaitable[int]]:
            async def count(n: int) -> int:
                return await totals.count_passages(asked[n], cap)

            return count

        page_ms, _ = await timed(repeats, page)
        metrics[f"{kind}_page_p50_ms"] = round(percentile(page_ms, 50), 2)
        line = f"{kind}: page {percentile(page_ms, 50):.2f} ms"
        for cap in CAPS:
            capped_ms, _ = await timed(repeats, counted(cap))
            name = f"{kind}_total" if cap == COUNT_CAP else f"{kind}_total_cap{cap}"
            metrics[f"{name}_p50_ms"] = round(percentile(capped_ms, 50), 2)
            metrics[f"{name}_p99_ms"] = round(percentile(capped_ms, 99), 2)
            line += f", cap {cap} {percentile(capped_ms, 50):.2f} ms"
        exact_ms, sizes = await timed(repeats, counted(EXACT))
        baseline[f"{kind}_total_p50_ms"] = round(percentile(exact_ms, 50), 2)
        baseline[f"{kind}_total_p99_ms"] = round(percentile(exact_ms, 99), 2)
        found[kind] = percentile([float(s) for s in sizes], 50)
        sys.stderr.write(f"{line}, exact {percentile(exact_ms, 50):.2f} ms, median total {found[kind]:g}\n")
    for name in ("generate_s", "copy_s", "index_s"):
        metrics[name] = round(loading[name], 1)
    notes = (
        f"{ROWS} synthetic reads over 12 months, {CAMERAS} cameras, {PLATES} plates, {READS_PER_PASSAGE} "
        f"reads a passage, one passage in {LOST_ONE_IN} not stored (its reads: items of their own). "
        f"Page: find_passages, {PAGE} a page. Total: count_passages capped at {COUNT_CAP}, as access "
        f"ships it (<kind>_total), at the other caps measured (<kind>_total_cap<N>), and exact "
        "(baseline). Median passages found per search: "
        + ", ".join(f"{kind} {value:g}" for kind, value in found.items())
        + ". Other engineers' processes shared the 2 cores during the run."
    )
    return metrics, baseline, notes


async def main() -> None:
    admin_url = database_url()
    name = f"bench_total_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = admin_url.rpartition("/")[0] + f"/{name}"
    engine = make_engine(url, SCHEMA, REPO / "var")
    try:
        metrics, baseline, notes = await measure(url, engine)
    finally:
        await engine.dispose()
        await drop_database(admin_url, name)
    result = "search_total" if ROWS == DEFAULT_ROWS else f"search_total_{ROWS / 1e6:g}m"
    sys.stdout.write(f"{write_result(result, metrics, baseline, notes)}\n")


if __name__ == "__main__":
    asyncio.run(main())
