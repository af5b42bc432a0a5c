"""The fault campaign's count: a lost read, a read stored twice and a read split in Kafka are each
found, a resend under one event id is not a duplicate, and what the bench reads back from the topic
has the key the cameras' reads have."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from anpr.v1 import common_pb2, read_pb2
from anpr_core.events import new_meta, to_timestamp
from bench.bench_faults import ZONE, CameraRead, capture, published_reads
from bench.faults_reconcile import ReadKey, SeenRead, SentRead, reconcile, reconcile_hits

T0 = 1_780_000_000_000_000


def key(n: int) -> ReadKey:
    return (f"cam-{n % 2}", T0 + n * 480_000, f"1ABC{n:03d}")


def sent(n: int, accepted: bool = True) -> SentRead:
    return SentRead(key(n), f"id-{n}", accepted, f"id-{n}" if accepted else "")


def seen(n: int, event_id: str | None = None) -> SeenRead:
    return SeenRead(key(n), event_id or f"id-{n}")


def test_a_clean_run_has_nothing_lost_or_duplicated() -> None:
    reads = [sent(n) for n in range(4)]
    counts = reconcile(reads, [seen(n) for n in range(4)], [seen(n) for n in range(4)])
    assert (counts["sent"], counts["accepted"], counts["lost"], counts["duplicated"]) == (4, 4, 0, 0)
    assert counts["stored_rows"] == counts["kafka_records"] == 4


def test_lost_stored_twice_and_split_reads_are_counted() -> None:
    reads = [sent(0), sent(1), sent(2), sent(3), sent(4, accepted=False)]
    # 0: stored once. 1: accepted, never stored (lost). 2: stored twice under two ids.
    # 3: on the topic twice under one id (a resend: allowed), stored once.
    stored = [seen(0), seen(2), seen(2, "id-2-again"), seen(3)]
    published = [seen(0), seen(2), seen(2, "id-2-again"), seen(3), seen(3)]
    counts = reconcile(reads, stored, published)
    assert counts["accepted"] == 4
    assert counts["not_accepted"] == 1
    assert counts["lost"] == 1
    assert counts["examples"]["lost"] == ["cam-1@1780000000480000:1ABC001"]
    assert counts["stored_twice"] == 1
    assert counts["split_in_kafka"] == 1
    assert counts["duplicated"] == 2
    assert counts["repeated_in_kafka"] == 1
    assert counts["stored_rows"] == 4
    assert counts["kafka_records"] == 5


def test_a_read_stored_under_another_event_id_is_lost_by_event_id() -> None:
    counts = reconcile([sent(0)], [seen(0, "not-the-content-id")], [seen(0, "not-the-content-id")])
    assert (counts["lost"], counts["lost_by_event_id"], counts["lost_by_content"]) == (1, 1, 0)


def test_a_202_naming_another_event_id_and_rows_nobody_sent_are_counted() -> None:
    counts = reconcile([SentRead(key(0), "id-0", True, "id-other")], [seen(0), seen(9)], [seen(0)])
    assert counts["answered_other_event_id"] == 1
    assert counts["stored_unknown"] == 1
    assert counts["lost"] == 0


def test_a_read_stored_though_its_sender_gave_up_is_no_loss() -> None:
    counts = reconcile([sent(0, accepted=False)], [seen(0)], [seen(0)])
    assert (counts["lost"], counts["stored_not_accepted"]) == (0, 1)


def test_sent_reads_must_be_distinct() -> None:
    with pytest.raises(ValueError, match="distinct"):
        reconcile([sent(0), sent(0)], [], [])


def test_a_wanted_read_without_a_hit_or_with_two_is_counted() -> None:
    rows = [("read-1", "hit-1"), ("read-1", "hit-1"), ("read-3", "hit-3a"), ("read-3", "hit-3b")]
    rows.append(("read-9", "hit-9"))
    counts = reconcile_hits({"read-1", "read-2", "read-3"}, rows)
    assert counts == {"expected": 3, "rows": 4, "lost": 1, "duplicated": 1, "unexpected": 1}


def test_a_read_from_the_topic_has_the_key_and_event_id_of_the_cameras_read() -> None:
    read = CameraRead(
        camera_id="cam-7",
        captured_at=datetime.now(UTC),
        text="1-abc 234",
        confidence=0.9,
        crop=b"",
        due=0.0,
        event_id="",
    )
    capture(read)
    # As ingest publishes it: plate normalised, capture time with an offset that is not UTC.
    meta = new_meta(ZONE, "ingest")
    meta.event_id = read.event_id
    published = read_pb2.PlateRead(
        meta=meta,
        camera_id="cam-7",
        captured_at=to_timestamp(read.captured_at.astimezone(timezone(timedelta(hours=1)))),
        direction=common_pb2.DIRECTION_IN,
        plate="1ABC234",
        camera_read=True,
    )
    [found] = published_reads([published.SerializeToString()])
    assert found.key == read.key
    assert found.event_id == read.event_id
    assert read.event_id.count("-") == 4  # a UUID, as ingest derives it
