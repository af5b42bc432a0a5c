"""The hash chain's rows: what each row's hash covers, and the row as stored. No I/O.

Each row's hash covers the previous row's hash, the row's position (seq), the time the log
recorded it, every column stored beside the event (event id, when it happened, actor, role,
action, service, outcome, case) and the event's canonical bytes (which hold the rest: zone,
purpose, legal basis, query, records, recipients), so no stored value, place or time can change
without breaking every later link (domain.verification checks them, and what links cannot show).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Version 2 of the row format: every stored column is hashed. Version 1 (no prefix) hashed the
# position, time and content only; rows in it are reported as such, never accepted.
ROW_DOMAIN = b"schild-audit-row/2\n"
ROW_POSITION = struct.Struct(">QQq")
_POSITION_V1 = struct.Struct(">QQ")
# The string columns beside the content, in hash order, joined by NUL (which PostgreSQL text
# cannot hold and the appender never writes, so the join is unambiguous: a row whose columns
# hold a NUL is reported, never hashed).
COLUMNS = ("event_id", "actor_user", "actor_role", "action", "service", "outcome", "case_reference")
COLUMN_SEPARATORS = len(COLUMNS) - 1
NO_COLUMNS: tuple[str, ...] = ("",) * len(COLUMNS)


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def link_hash(
    previous_hash: str,
    seq: int,
    appended_us: int,
    content: bytes,
    *,
    occurred_us: int = 0,
    columns: Sequence[str] = NO_COLUMNS,
) -> str:
    """The row's hash: the previous hash, seq, append time, occurrence time, `columns` (the values
    of COLUMNS, in that order) and the content."""
    if len(columns) != len(COLUMNS) or any("\x00" in value for value in columns):
        raise ValueError(f"a row has the {len(COLUMNS)} columns {COLUMNS}, none holding a NUL")
    return hashlib.sha256(
        ROW_DOMAIN
        + bytes.fromhex(previous_hash)
        + ROW_POSITION.pack(seq, appended_us, occurred_us)
        + "\x00".join(columns).encode("utf-8", "surrogatepass")
        + b"\x00"
        + content
    ).hexdigest()


def link_hash_v1(previous_hash: str, seq: int, appended_us: int, content: bytes) -> str:
    """The hash of the first row format, only to recognise a log written before version 2."""
    return hashlib.sha256(
        bytes.fromhex(previous_hash) + _POSITION_V1.pack(seq, appended_us) + content
    ).hexdigest()


class ChainRow(NamedTuple):
    """A tuple, so a verifier unpacks it (or a database record in the same order) at C speed."""

    seq: int
    appended_us: int
    content: bytes
    previous_hash: str
    row_hash: str
    occurred_us: int = 0
    event_id: str = ""
    actor_user: str = ""
    actor_role: str = ""
    action: str = ""
    service: str = ""
    outcome: str = ""
    case_reference: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (
            self.event_id,
            self.actor_user,
            self.actor_role,
            self.action,
            self.service,
            self.outcome,
            self.case_reference,
        )


@dataclass(frozen=True, slots=True)
class StoredRow:
    """A stored row: every column, so that it can be verified again anywhere."""

    seq: int
    event_id: str
    appended_at: datetime
    content: bytes
    previous_hash: str
    row_hash: str
    occurred_at: datetime
    actor_user: str
    actor_role: str
    action: str
    service: str
    outcome: str
    case_reference: str

    def chain_row(self) -> ChainRow:
        return ChainRow(
            self.seq,
            micros(self.appended_at),
            self.content,
            self.previous_hash,
            self.row_hash,
            micros(self.occurred_at),
            self.event_id,
            self.actor_user,
            self.actor_role,
            self.action,
            self.service,
            self.outcome,
            self.case_reference,
        )
