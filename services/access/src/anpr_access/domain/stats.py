"""Traffic statistics: passages in and out per camera and per hour or day, without plates. No I/O."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class Bucket(StrEnum):
    HOUR = "hour"
    DAY = "day"


class TrafficRow(BaseModel):
    camera_id: str
    bucket_start: datetime
    passages_in: int
    passages_out: int
    passages_other: int


def bucket_start(moment: datetime, bucket: Bucket) -> datetime:
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket is Bucket.DAY else moment


def traffic(passages: Iterable[tuple[str, datetime, str, int]], bucket: Bucket) -> list[TrafficRow]:
    """(camera_id, captured_at, direction, count) -> one row per camera and bucket, in time order.

    The database may have grouped already (count > 1); bucketing again is harmless."""
    counts: Counter[tuple[str, datetime, str]] = Counter()
    for camera_id, captured_at, direction, count in passages:
        side = direction if direction in ("in", "out") else "other"
        counts[(camera_id, bucket_start(captured_at, bucket), side)] += count
    keys = sorted({(camera, start) for camera, start, _ in counts}, key=lambda k: (k[1], k[0]))
    return [
        TrafficRow(
            camera_id=camera,
            bucket_start=start,
            passages_in=counts[(camera, start, "in")],
            passages_out=counts[(camera, start, "out")],
            passages_other=counts[(camera, start, "other")],
        )
        for camera, start in keys
    ]


def as_csv(rows: list[TrafficRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["camera_id", "bucket_start", "passages_in", "passages_out", "passages_other"])
    for row in rows:
        writer.writerow(
            [
                row.camera_id,
                row.bucket_start.isoformat(),
                row.passages_in,
                row.passages_out,
                row.passages_other,
            ]
        )
    return out.getvalue()
