"""The hash chain: each row's hash covers the previous row's hash and the row's canonical bytes. No I/O."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64


def link_hash(previous_hash: str, content: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous_hash) + content).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    seq: int
    content: bytes
    previous_hash: str
    row_hash: str


@dataclass(frozen=True)
class Verification:
    valid: bool
    rows_checked: int
    first_broken_seq: int | None = None
    reason: str = ""
    head_hash: str = GENESIS
    head_seq: int = 0


def verify_chain(
    rows: Iterable[ChainRow], expected_previous: str = GENESIS, after_seq: int = 0
) -> Verification:
    """Recomputes the chain in seq order; names the first row whose link or content does not hold.

    `expected_previous` and `after_seq` continue from an earlier verified head, so a periodic
    check reads only the rows appended since.
    """
    previous = expected_previous
    head_seq = after_seq
    checked = 0
    for row in rows:
        if row.previous_hash != previous:
            reason = "previous_hash does not match the row before"
            return Verification(False, checked, row.seq, reason, previous, head_seq)
        if link_hash(previous, row.content) != row.row_hash:
            reason = "row content does not match its hash"
            return Verification(False, checked, row.seq, reason, previous, head_seq)
        previous = row.row_hash
        head_seq = row.seq
        checked += 1
    return Verification(True, checked, head_hash=previous, head_seq=head_seq)
