"""The fault campaign's count (bench/bench_faults.py): what the cameras sent and were told, against
what access stored and what the reads topic holds. Plain data in, counts out; no I/O.

A read is one distinct thing a camera saw: its camera, capture time (to the microsecond) and plate.
Every attempt to send it carries the same content, so ingest derives the same event id each time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# (camera_id, captured_at as microseconds since the epoch, normalised plate)
ReadKey = tuple[str, int, str]


@dataclass(frozen=True)
class SentRead:
    """One distinct read as the client knows it: what it derived and what ingest answered."""

    key: ReadKey
    event_id: str  # derived from the content, as ingest derives it
    accepted: bool  # a 202 came back (a duplicate answer too)
    answered_event_id: str = ""  # the event id of that 202


@dataclass(frozen=True)
class SeenRead:
    """A read found downstream: a row of access's table or a record of the reads topic."""

    key: ReadKey
    event_id: str


def reconcile(
    sent: Iterable[SentRead], stored: Iterable[SeenRead], published: Iterable[SeenRead]
) -> dict[str, Any]:
    """Counts lost and duplicated reads.

    lost: accepted, yet access holds no row under its event id or no row with its content.
    stored_twice: a distinct read held in more than one row of access's table.
    split_in_kafka: a distinct read on the topic under more than one event id (sinks would keep both).
    repeated_in_kafka: on the topic more than once under one event id (a resend of an unconfirmed
    publish: allowed, the sinks keep one copy).
    duplicated = stored_twice + split_in_kafka.
    """
    sent = list(sent)
    by_key = {read.key: read for read in sent}
    if len(by_key) != len(sent):
        raise ValueError("sent reads must be distinct (camera, capture time, plate)")
    stored_ids: set[str] = set()
    rows_per_key: Counter[ReadKey] = Counter()
    for row in stored:
        stored_ids.add(row.event_id)
        rows_per_key[row.key] += 1
    ids_per_key: dict[ReadKey, set[str]] = defaultdict(set)
    records_per_key: Counter[ReadKey] = Counter()
    for record in published:
        ids_per_key[record.key].add(record.event_id)
        records_per_key[record.key] += 1

    accepted = [read for read in sent if read.accepted]
    missing_by_id = [read for read in accepted if read.event_id not in stored_ids]
    missing_by_content = [read for read in accepted if rows_per_key[read.key] == 0]
    lost = {read.key for read in missing_by_id} | {read.key for read in missing_by_content}
    stored_twice = [key for key, rows in rows_per_key.items() if rows > 1]
    split = [key for key, ids in ids_per_key.items() if len(ids) > 1]
    repeated = [key for key, ids in ids_per_key.items() if len(ids) == 1 and records_per_key[key] > 1]
    return {
        "sent": len(sent),
        "accepted": len(accepted),
        "not_accepted": len(sent) - len(accepted),
        "lost": len(lost),
        "lost_by_event_id": len(missing_by_id),
        "lost_by_content": len(missing_by_content),
        "stored_twice": len(stored_twice),
        "split_in_kafka": len(split),
        "duplicated": len(stored_twice) + len(split),
        "repeated_in_kafka": len(repeated),
        "kafka_records": sum(records_per_key.values()),
        "stored_rows": sum(rows_per_key.values()),
        # A 202 naming another event id than the content's: a resend would not be the same event.
        "answered_other_event_id": sum(
            1 for read in accepted if read.answered_event_id and read.answered_event_id != read.event_id
        ),
        # Stored though never accepted: a 503 (stored unknown) whose retries all failed; not a loss.
        "stored_not_accepted": sum(1 for read in sent if not read.accepted and rows_per_key[read.key]),
        # Rows or records no sent read explains (a run's leftovers, or a corrupted key).
        "stored_unknown": sum(rows for key, rows in rows_per_key.items() if key not in by_key),
        "kafka_unknown": sum(n for key, n in records_per_key.items() if key not in by_key),
        "examples": {
            "lost": [_show(key) for key in sorted(lost)[:5]],
            "stored_twice": [_show(key) for key in sorted(stored_twice)[:5]],
            "split_in_kafka": [_show(key) for key in sorted(split)[:5]],
        },
    }


def _show(key: ReadKey) -> str:
    camera_id, micros, plate = key
    return f"{camera_id}@{micros}:{plate}"


def reconcile_hits(expected: Iterable[str], rows: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Hits of the reads of wanted plates, each read once: one hit each, never none, never two.

    expected: the event ids of the accepted reads of a wanted plate; rows: (read event id, hit id)
    of a hits table. A hit's id is derived from its read and entry, so a redelivered read gives
    the same row; two hit ids for one read is a duplicate.
    """
    wanted = set(expected)
    hit_ids: dict[str, set[str]] = defaultdict(set)
    for read_event_id, hit_id in rows:
        hit_ids[read_event_id].add(hit_id)
    return {
        "expected": len(wanted),
        "rows": sum(len(ids) for ids in hit_ids.values()),
        "lost": sum(1 for event_id in wanted if not hit_ids.get(event_id)),
        "duplicated": sum(1 for ids in hit_ids.values() if len(ids) > 1),
        # Hits of reads of no wanted plate (a false match).
        "unexpected": sum(1 for event_id in hit_ids if event_id not in wanted),
    }
