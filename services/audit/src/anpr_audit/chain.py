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


def verify_chain(rows: Iterable[ChainRow], expected_previous: str = GENESIS) -> Verification:
    """Recomputes the chain in seq order; names the first row whose link or content does not hold."""
    previous = expected_previous
    checked = 0
    for row in rows:
        if row.previous_hash != previous:
            return Verification(
                False, checked, row.seq, "previous_hash does not match the row before", previous
            )
        if link_hash(previous, row.content) != row.row_hash:
            return Verification(False, checked, row.seq, "row content does not match its hash", previous)
        previous = row.row_hash
        checked += 1
    return Verification(True, checked, head_hash=previous)
