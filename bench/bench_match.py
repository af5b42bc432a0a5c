"""Match benchmark: reads per second and per-read latency against a 1M-entry hotlist with fuzzy on,
the index's memory, and a 1M-line CSV import through the REST endpoint (embedded mode).
`--import-only` runs just the import and prints its figures.

Baseline, measured in the same run: a linear scan with a Python Levenshtein over every entry
(distance <= 1 on each reading), on a small sample of reads since it takes seconds per read.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import os
import random
import string
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_match.bootstrap import build_service
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules
from anpr_match.domain.index import HotlistIndex
from anpr_match.settings import MatchSettings
from bench.common import percentile, write_result
from schild.progress import progress as bar

ENTRIES = int(os.environ.get("BENCH_MATCH_ENTRIES", "1000000"))
READS = int(os.environ.get("BENCH_MATCH_READS", "200000"))
BASELINE_READS = int(os.environ.get("BENCH_MATCH_BASELINE_READS", "5"))
BASELINE_ENTRIES = min(ENTRIES, int(os.environ.get("BENCH_MATCH_BASELINE_ENTRIES", "50000")))
IMPORT_LINES = int(os.environ.get("BENCH_MATCH_IMPORT_LINES", "1000000"))
PASSES = int(os.environ.get("BENCH_MATCH_PASSES", "3"))
# One entry in ten is on a list that allows an inserted or missing character.
EDIT_SHARE = 10
# The entries' validity is relative to the day the bench runs, so none has expired (the import
# refuses an entry that ended before it started, and the index skips those ended) on any day.
NOW = datetime.now(UTC).replace(microsecond=0)
RULES = [
    ListRules("stolen", Category.STOLEN_VEHICLE, max_substitutions=1),
    ListRules("wanted", Category.WANTED_PERSON, max_substitutions=1, allow_edit=True),
]
CONFUSE = {"0": "O", "O": "0", "1": "I", "I": "1", "8": "B", "B": "8", "5": "S", "S": "5", "2": "Z", "Z": "2"}


def plate(rng: random.Random) -> str:
    letters = "".join(rng.choices(string.ascii_uppercase, k=3))
    digits = "".join(rng.choices(string.digits, k=3))
    return f"{rng.randint(1, 2)}{letters}{digits}" if rng.random() < 0.8 else f"{letters}{digits}"


def entries(count: int, seed: int = 1) -> Iterator[HotlistEntry]:
    rng = random.Random(seed)
    for n in range(count):
        yield HotlistEntry(
            entry_id=f"0195a1b2-c3d4-7e5f-8a9b-{n:012x}",
            plate=plate(rng),
            list_name="wanted" if n % EDIT_SHARE == 0 else "stolen",
            category=Category.WANTED_PERSON if n % EDIT_SHARE == 0 else Category.STOLEN_VEHICLE,
            priority=rng.randint(0, 9),
            action=rng.choice(["stop and check", "notify", "observe, do not intercept"]),
            valid_from=NOW - timedelta(days=rng.randint(1, 300)),
            valid_until=None if rng.random() < 0.7 else NOW + timedelta(days=rng.randint(1, 300)),
            source_zone="5344",
            reason="bench",
            case_reference=f"PV/{n}",
            entered_by="bench",
        )


def build_index(count: int) -> tuple[HotlistIndex, list[str]]:
    index = HotlistIndex()
    for rules in RULES:
        index.set_rules(rules)
    sample: list[str] = []
    with bar("entries indexed", count) as advance:
        for n, listed in enumerate(entries(count)):
            index.put(listed)
            if n % 50 == 0:
                sample.append(listed.plate)
            if n % 10_000 == 9_999:
                advance(10_000)
    return index, sample


def vary(rng: random.Random, text: str) -> str:
    kind = rng.random()
    position = rng.randrange(len(text))
    if kind < 0.6:
        options = [i for i, c in enumerate(text) if c in CONFUSE]
        if options:
            i = rng.choice(options)
            return text[:i] + CONFUSE[text[i]] + text[i + 1 :]
    if kind < 0.8:
        return text[:position] + text[position + 1 :]
    return text[:position] + rng.choice(string.ascii_uppercase) + text[position:]


def reads(count: int, listed: list[str], seed: int = 2) -> list[tuple[tuple[str, float], ...]]:
    """Three candidate readings per read: most of a passing traffic, some of listed plates."""
    rng = random.Random(seed)
    made: list[tuple[tuple[str, float], ...]] = []
    for _ in range(count):
        roll = rng.random()
        best = plate(rng) if roll < 0.8 else rng.choice(listed)
        if 0.9 <= roll < 0.97:
            best = vary(rng, best)
        made.append(((best, 0.9), (vary(rng, best), 0.5), (vary(rng, best), 0.3)))
    return made


def measure_index(index: HotlistIndex, batch: list[tuple[tuple[str, float], ...]]) -> dict[str, float]:
    """The best of PASSES passes (as timeit does): the others carry more of the neighbours' load."""
    passes = [measure_pass(index, batch) for _ in range(PASSES)]
    return max(passes, key=lambda result: result["reads_per_cpu_s"])


def measure_pass(index: HotlistIndex, batch: list[tuple[tuple[str, float], ...]]) -> dict[str, float]:
    """Wall time, and CPU time of this thread: on a shared machine the CPU time is what one core costs."""
    wall: list[int] = []
    cpu: list[int] = []
    found = 0
    match = index.match
    clock = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    started, started_cpu = time.perf_counter(), time.thread_time()
    for readings in batch:
        t0, c0 = clock(), cpu_clock()
        found += len(match(readings, NOW, "cam-1", Direction.IN))
        cpu.append(cpu_clock() - c0)
        wall.append(clock() - t0)
    elapsed, elapsed_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
    wall_us = [t / 1000 for t in wall]
    cpu_us = [t / 1000 for t in cpu]
    return {
        "reads_per_s": round(len(batch) / elapsed, 1),
        "reads_per_cpu_s": round(len(batch) / elapsed_cpu, 1),
        "latency_p50_us": round(percentile(wall_us, 50), 2),
        "latency_p99_us": round(percentile(wall_us, 99), 2),
        "latency_max_us": round(max(wall_us), 2),
        "cpu_p50_us": round(percentile(cpu_us, 50), 2),
        "cpu_p99_us": round(percentile(cpu_us, 99), 2),
        "matches": float(found),
    }


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def baseline(batch: list[tuple[tuple[str, float], ...]]) -> dict[str, float]:
    """The naive matcher: every reading against every entry, Levenshtein distance <= 1.

    Its cost is linear in the entries, so it scans the first BASELINE_ENTRIES and scales up.
    """
    plates = [e.plate for e in entries(BASELINE_ENTRIES)]
    scale = ENTRIES / BASELINE_ENTRIES
    wall: list[float] = []
    cpu: list[float] = []
    for readings in batch:
        t0, c0 = time.perf_counter(), time.thread_time()
        for text, _confidence in readings:
            [p for p in plates if levenshtein(text, p) <= 1]
        cpu.append((time.thread_time() - c0) * 1e6 * scale)
        wall.append((time.perf_counter() - t0) * 1e6 * scale)
    return {
        "reads_per_s": round(len(batch) / (sum(wall) / 1e6), 5),
        "reads_per_cpu_s": round(len(batch) / (sum(cpu) / 1e6), 5),
        "latency_p50_us": round(percentile(wall, 50), 0),
        "latency_p99_us": round(percentile(wall, 99), 0),
        "cpu_p50_us": round(percentile(cpu, 50), 0),
        "cpu_p99_us": round(percentile(cpu, 99), 0),
    }


async def rest_import(lines: int) -> dict[str, float]:
    """POST /v1/hotlist/import of `lines` entries, embedded mode (SQLite, in-process bus)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ("plate", "country", "list_name", "priority", "action", "valid_until", "reason", "case_reference")
    )
    with bar("CSV lines written", lines) as advance:
        for n, e in enumerate(entries(lines, seed=3)):
            until = e.valid_until.isoformat() if e.valid_until else ""
            writer.writerow(
                (e.plate, "BE", e.list_name, e.priority, e.action, until, e.reason, e.case_reference)
            )
            if n % 10_000 == 9_999:
                advance(10_000)
    body = buffer.getvalue()
    with tempfile.TemporaryDirectory() as data_dir:
        path = Path(data_dir)
        issuer = DevIssuer(path / "key.pem")
        engine = make_engine(None, "match", path)
        service = build_service(
            MatchSettings(data_dir=path, lookback_hours=0),
            MemoryBus(retained_per_partition=10_000),
            engine,
            issuer,
        )
        app = service.app
        headers = {"Authorization": f"Bearer {issuer.issue('bench', Role.SUPERVISOR)}"}
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=600) as client,
        ):
            for rules in RULES:
                made = await client.post(
                    "/v1/lists", json={"name": rules.name, "category": rules.category.value}, headers=headers
                )
                made.raise_for_status()
            started = time.perf_counter()
            # One request, all or nothing: the bar counts its time, not its lines.
            with bar(f"POST /v1/hotlist/import of {lines} lines", None):
                response = await client.post(
                    "/v1/hotlist/import", content=body, headers={**headers, "Content-Type": "text/csv"}
                )
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            imported = response.json()["imported"]
            # The events reach the hotlist topic through the outbox: published when none is left.
            await service.relay.drain()
            published = time.perf_counter() - started
        await engine.dispose()
    return {
        "import_s": round(elapsed, 2),
        "import_published_s": round(published, 2),
        "import_entries": float(imported),
    }


def progress(step: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} {step}\n")


def main() -> None:
    if "--import-only" in sys.argv[1:]:
        # Just the REST import, printed and not written to bench/results: for working on the import.
        progress("REST import")
        sys.stdout.write(f"{json.dumps(asyncio.run(rest_import(IMPORT_LINES)))}\n")
        return
    progress("building the index")
    started = time.perf_counter()
    index, listed = build_index(ENTRIES)
    build_s = time.perf_counter() - started
    del index
    gc.collect()
    progress("building the index again, under tracemalloc")
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index, listed = build_index(ENTRIES)
    gc.collect()
    index_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # The sample of listed plates is not part of the index.
    index_bytes -= sum(sys.getsizeof(p) for p in listed) + sys.getsizeof(listed)
    progress("matching reads")
    batch = reads(READS, listed)
    measured = measure_index(index, batch)
    measured.update(
        {
            "entries": float(len(index)),
            "index_memory_mb": round(index_bytes / 2**20, 1),
            "index_build_s": round(build_s, 2),
        }
    )
    progress("baseline")
    base = baseline(batch[:BASELINE_READS])
    progress("REST import")
    measured.update(asyncio.run(rest_import(IMPORT_LINES)))
    path = write_result(
        "match",
        measured,
        base,
        notes=(
            f"{ENTRIES} entries ({100 // EDIT_SHARE}% on a list allowing one insertion/deletion, all "
            f"with one confusable substitution allowed); {READS} reads of three candidate readings each "
            "(about 10% of listed plates, some varied), matched one after the other on one core, best of "
            f"{PASSES} passes; latency is one read's index.match; reads_per_cpu_s and cpu_*_us count "
            "this thread's CPU time, the fair per-core figure on a shared machine. Memory: tracemalloc "
            "of the index build. Baseline: a linear scan with a Python "
            f"Levenshtein over every entry for each reading, on {BASELINE_READS} reads, scanning "
            f"{BASELINE_ENTRIES} entries and scaled linearly to {ENTRIES}. import_s: POST "
            f"/v1/hotlist/import of {IMPORT_LINES} CSV lines in the embedded mode (SQLite, in-process bus), "
            "validation, one transaction (the rows and an outbox row each) and this replica's indexing "
            "included; import_published_s: until the outbox relay has published every entry's event to "
            "the hotlist topic, from the same start. Other engineers' tests and benchmarks were sharing "
            "the machine's 2 cores."
        ),
    )
    sys.stdout.write(f"{path}\n{path.read_text()}")


if __name__ == "__main__":
    main()
