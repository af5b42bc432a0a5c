"""The hash chain and its signed checkpoints. No I/O.

Each row's hash covers the previous row's hash, the row's position (seq), the time the log
recorded it and the event's canonical bytes, so neither a row's content nor its place nor its
time can change without breaking every later link. Links cannot show rows cut from the end;
Ed25519-signed checkpoints of the head (RFC 6962's signed tree heads, for a chain) can: a
signed checkpoint beyond the current head means the log was truncated.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_POSITION = struct.Struct(">QQ")
_CHECKPOINT_DOMAIN = b"schild-audit-checkpoint/1\n"


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def link_hash(previous_hash: str, seq: int, appended_us: int, content: bytes) -> str:
    return hashlib.sha256(
        bytes.fromhex(previous_hash) + _POSITION.pack(seq, appended_us) + content
    ).hexdigest()


class ChainRow(NamedTuple):
    """A tuple, so a verifier unpacks it (or a database record in the same order) at C speed."""

    seq: int
    appended_us: int
    content: bytes
    previous_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: when the checkpoint was made, the chain's row `seq` had hash `head_hash`."""

    seq: int
    head_hash: str
    created_us: int
    key_id: str
    signature: bytes


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, head_hash: str, created_us: int) -> bytes:
    return _CHECKPOINT_DOMAIN + f"{seq}\n{head_hash}\n{created_us}".encode()


def sign_checkpoint(key: Ed25519PrivateKey, seq: int, head_hash: str, created_us: int) -> Checkpoint:
    signature = key.sign(checkpoint_message(seq, head_hash, created_us))
    return Checkpoint(seq, head_hash, created_us, key_id(key.public_key()), signature)


def signature_holds(public_key: Ed25519PublicKey, checkpoint: Checkpoint) -> bool:
    try:
        public_key.verify(
            checkpoint.signature,
            checkpoint_message(checkpoint.seq, checkpoint.head_hash, checkpoint.created_us),
        )
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Verification:
    valid: bool
    rows_checked: int
    first_broken_seq: int | None = None
    reason: str = ""
    head_hash: str = GENESIS
    head_seq: int = 0
    checkpoints_checked: int = 0


@dataclass
class ChainCheck:
    """Verifies a chain fed in order, batch by batch, so a long chain never sits in memory at once.

    `expected_previous` and `after_seq` anchor the check on an earlier row (the row before a
    period, or the head an earlier check verified). Checkpoints whose seq falls in the fed rows
    are checked against the recomputed hashes and their signatures; `finish` reports a signed
    checkpoint beyond the last row as truncation.
    """

    expected_previous: str = GENESIS
    after_seq: int = 0
    checkpoints: Mapping[int, Checkpoint] = field(default_factory=dict)
    public_key: Ed25519PublicKey | None = None
    _previous: str = field(init=False)
    _head_seq: int = field(init=False)
    _checked: int = field(init=False, default=0)
    _checkpoints_checked: int = field(init=False, default=0)
    _broken: Verification | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._previous = self.expected_previous
        self._head_seq = self.after_seq

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def _fail(self, seq: int, reason: str) -> bool:
        self._broken = Verification(
            False, self._checked, seq, reason, self._previous, self._head_seq, self._checkpoints_checked
        )
        return False

    def feed(self, rows: Iterable[ChainRow] | Iterable[tuple[int, int, bytes, str, str]]) -> bool:
        """Checks the next rows, each (seq, appended_us, content, previous_hash, row_hash).

        Returns False, and stops, at the first broken one.
        """
        if self._broken is not None:
            return False
        previous, expected_seq = self._previous, self._head_seq + 1
        pack, sha256, checkpoints = _POSITION.pack, hashlib.sha256, self.checkpoints
        previous_raw = bytes.fromhex(previous)
        for seq, appended_us, content, previous_hash, stored_hash in rows:
            if seq != expected_seq:
                return self._fail(expected_seq, f"row {expected_seq} is missing (next row is {seq})")
            if previous_hash != previous:
                return self._fail(seq, "previous_hash does not match the row before")
            digest = sha256(previous_raw + pack(seq, appended_us) + content).digest()
            row_hash = digest.hex()
            if row_hash != stored_hash:
                return self._fail(seq, "row content does not match its hash")
            if checkpoints and seq in checkpoints and not self._checkpoint_holds(checkpoints[seq], row_hash):
                return False
            previous, previous_raw = row_hash, digest
            self._previous, self._head_seq = previous, seq
            self._checked += 1
            expected_seq += 1
        return True

    def _checkpoint_holds(self, checkpoint: Checkpoint, row_hash: str) -> bool:
        if self.public_key is None:
            return True
        if not signature_holds(self.public_key, checkpoint):
            return self._fail(
                checkpoint.seq, f"the checkpoint at seq {checkpoint.seq} has an invalid signature"
            )
        if checkpoint.head_hash != row_hash:
            return self._fail(
                checkpoint.seq,
                f"the chain was rewritten at or before seq {checkpoint.seq}: "
                "it no longer matches the signed checkpoint there",
            )
        self._checkpoints_checked += 1
        return True

    def finish(
        self, newest_checkpoint: Checkpoint | None = None, log_head_seq: int | None = None
    ) -> Verification:
        """The verdict; `newest_checkpoint` beyond the log head (default: the last row fed) is a cut tail."""
        if self._broken is not None:
            return self._broken
        head = self._head_seq if log_head_seq is None else log_head_seq
        if self.public_key is not None and newest_checkpoint is not None and newest_checkpoint.seq > head:
            if not signature_holds(self.public_key, newest_checkpoint):
                self._fail(
                    newest_checkpoint.seq,
                    f"the checkpoint at seq {newest_checkpoint.seq} has an invalid signature",
                )
            else:
                self._fail(
                    head + 1,
                    f"truncated: a signed checkpoint covers seq {newest_checkpoint.seq} "
                    f"but the log ends at seq {head}",
                )
            assert self._broken is not None  # noqa: S101 - set by _fail
            return self._broken
        return Verification(
            True,
            self._checked,
            head_hash=self._previous,
            head_seq=self._head_seq,
            checkpoints_checked=self._checkpoints_checked,
        )


def verify_chain(
    rows: Iterable[ChainRow],
    expected_previous: str = GENESIS,
    after_seq: int = 0,
    *,
    checkpoints: Mapping[int, Checkpoint] | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> Verification:
    """Recomputes the chain in seq order; names the first row whose place, link or content does not hold."""
    check = ChainCheck(expected_previous, after_seq, checkpoints or {}, public_key)
    check.feed(rows)
    newest = max(checkpoints.values(), key=lambda c: c.seq) if checkpoints else None
    return check.finish(newest)
