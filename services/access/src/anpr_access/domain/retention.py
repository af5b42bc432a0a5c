"""Retention by month partitions: which months to drop whole, which to trim. No I/O.

On PostgreSQL the reads table is RANGE-partitioned on captured_at, one partition per calendar
month (UTC). A partition wholly older than the cut-off is dropped (unless it holds rows under a
legal hold: then it is trimmed row by row, keeping the held rows in place); the partition that
straddles the cut-off is trimmed row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @staticmethod
    def of(moment: datetime) -> Month:
        moment = moment.astimezone(UTC)
        return Month(moment.year, moment.month)

    @staticmethod
    def from_partition(name: str) -> Month | None:
        """`reads_p2026_11` -> Month(2026, 11); anything else -> None."""
        prefix, _, rest = name.rpartition("_p")
        year, _, month = rest.partition("_")
        if prefix != "reads" or not (year.isdigit() and month.isdigit()):
            return None
        return Month(int(year), int(month))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def end(self) -> datetime:
        return self.next().start

    @property
    def partition(self) -> str:
        return f"reads_p{self.year:04d}_{self.month:02d}"


def months_ahead(now: datetime, count: int) -> list[Month]:
    """This month and the `count` after it: the partitions created ahead of the consumer."""
    months = [Month.of(now)]
    for _ in range(count):
        months.append(months[-1].next())
    return months


@dataclass(frozen=True)
class RetentionPlan:
    drop: list[Month]
    trim: list[Month]


def plan_retention(existing: list[Month], cutoff: datetime, held: set[Month]) -> RetentionPlan:
    """Months ending at or before the cut-off are dropped, unless they hold held rows; the one
    straddling the cut-off (and every held old month) is trimmed row by row."""
    drop: list[Month] = []
    trim: list[Month] = []
    for month in sorted(existing):
        if month.end <= cutoff:
            (trim if month in held else drop).append(month)
        elif month.start < cutoff:
            trim.append(month)
    return RetentionPlan(drop=drop, trim=trim)
