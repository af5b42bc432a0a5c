"""Verification of the chain: its links, and its signed checkpoints and anchors. No I/O.

Links cannot show rows cut from the end, or numbers reused after a cut; signed checkpoints of the
head, kept also outside the database (anchors), can:
- a signed checkpoint beyond the log's head means the log was cut, wiped or rolled back;
- a row that no longer hashes to what a checkpoint signed was rewritten;
- a checkpoint is signed no earlier than the rows it covers were appended, so a row appended
  after a checkpoint that covers its seq holds a reused number: rows were cut and appended
  again, or an older backup was restored and written on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from anpr_audit.domain.chain import (
    COLUMN_SEPARATORS,
    GENESIS,
    ROW_DOMAIN,
    ROW_POSITION,
    ChainRow,
    from_micros,
    link_hash_v1,
)
from anpr_audit.domain.checkpoints import Checkpoint, newest, signature_holds

_NEVER = 2**63


def _where(checkpoint: Checkpoint) -> str:
    return f" ({checkpoint.source})" if checkpoint.source else ""


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
    period, or the head an earlier check verified). `checkpoints` (from the database) and
    `anchors` (the same kind of signed checkpoint, kept outside it) whose seq falls in the fed rows
    are checked against the recomputed hashes, and bound the append time of every row they cover;
    `finish` reports a signed checkpoint beyond the last row as a cut.

    Signatures are checked where a verdict rests on them: the newest checkpoint that matched (it
    vouches, through the links, for every row before it), one beyond the head, and any that
    disagrees with the chain. A forged checkpoint that agrees with a chain vouched for by a real
    one says nothing new.
    """

    expected_previous: str = GENESIS
    after_seq: int = 0
    checkpoints: Mapping[int, Checkpoint] = field(default_factory=dict)
    public_key: Ed25519PublicKey | None = None
    anchors: Iterable[Checkpoint] = ()
    _signed: dict[int, list[Checkpoint]] = field(init=False)
    _bounds: list[tuple[int, int, Checkpoint]] = field(init=False)
    _previous: str = field(init=False)
    _head_seq: int = field(init=False)
    _checked: int = field(init=False, default=0)
    _checkpoints_checked: int = field(init=False, default=0)
    _newest_matched: Checkpoint | None = field(init=False, default=None)
    _broken: Verification | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._previous = self.expected_previous
        self._head_seq = self.after_seq
        self._signed = {}
        for checkpoint in [*self.checkpoints.values(), *self.anchors]:
            if checkpoint.seq <= self.after_seq:
                continue
            same_seq = self._signed.setdefault(checkpoint.seq, [])
            if checkpoint not in same_seq:
                same_seq.append(checkpoint)
        # For each checkpoint seq, ascending: the earliest signing time among the checkpoints at
        # or after it (and the one that has it). No row at or before that seq may be appended later.
        bounds: list[tuple[int, int, Checkpoint]] = []
        earliest: Checkpoint | None = None
        # Without the key no checkpoint is trusted, so none bounds anything.
        for seq in sorted(self._signed if self.public_key is not None else (), reverse=True):
            for checkpoint in self._signed[seq]:
                if earliest is None or checkpoint.created_us < earliest.created_us:
                    earliest = checkpoint
            assert earliest is not None  # noqa: S101 - every listed seq has a checkpoint
            bounds.append((seq, earliest.created_us, earliest))
        bounds.reverse()
        self._bounds = bounds

    @property
    def broken(self) -> bool:
        return self._broken is not None

    def _fail(self, seq: int, reason: str) -> bool:
        self._broken = Verification(
            False, self._checked, seq, reason, self._previous, self._head_seq, self._checkpoints_checked
        )
        return False

    def feed(self, rows: Iterable[Sequence[Any]]) -> bool:
        """Checks the next rows, each in ChainRow's order (a ChainRow or a database record).

        Returns False, and stops, at the first broken one.
        """
        if self._broken is not None:
            return False
        previous, expected_seq = self._previous, self._head_seq + 1
        pack, sha256, signed, domain = ROW_POSITION.pack, hashlib.sha256, self._signed, ROW_DOMAIN
        bounds, bound_index = self._bounds, 0
        while bound_index < len(bounds) and bounds[bound_index][0] < expected_seq:
            bound_index += 1
        bound_seq, bound_us = bounds[bound_index][:2] if bound_index < len(bounds) else (_NEVER, _NEVER)
        previous_raw = bytes.fromhex(previous)
        for row in rows:
            (
                seq,
                appended_us,
                content,
                previous_hash,
                stored_hash,
                occurred_us,
                event_id,
                actor_user,
                actor_role,
                action,
                service,
                outcome,
                case_reference,
            ) = row
            if seq != expected_seq:
                if seq < expected_seq:
                    return self._fail(
                        seq, f"seq {seq} appears again after seq {expected_seq - 1}: a reused number"
                    )
                return self._fail(expected_seq, f"row {expected_seq} is missing (next row is {seq})")
            if previous_hash != previous:
                return self._fail(seq, "previous_hash does not match the row before")
            columns = "\x00".join(
                (event_id, actor_user, actor_role, action, service, outcome, case_reference)
            )
            if columns.count("\x00") != COLUMN_SEPARATORS:
                return self._fail(seq, "a stored column holds a NUL byte, which the log never writes")
            digest = sha256(
                domain
                + previous_raw
                + pack(seq, appended_us, occurred_us)
                + columns.encode("utf-8", "surrogatepass")
                + b"\x00"
                + content
            ).digest()
            row_hash = digest.hex()
            if row_hash != stored_hash:
                return self._fail(seq, self._why_not(previous, row))
            if seq > bound_seq:
                bound_index += 1
                while bound_index < len(bounds) and bounds[bound_index][0] < seq:
                    bound_index += 1
                bound_seq, bound_us = (
                    bounds[bound_index][:2] if bound_index < len(bounds) else (_NEVER, _NEVER)
                )
            if appended_us > bound_us:
                return self._reused(seq, appended_us, bounds[bound_index][2])
            if seq in signed and not self._checkpoints_hold(signed[seq], row_hash):
                return False
            previous, previous_raw = row_hash, digest
            self._previous, self._head_seq = previous, seq
            self._checked += 1
            expected_seq += 1
        return True

    @staticmethod
    def _why_not(previous: str, row: Sequence[Any]) -> str:
        seq, appended_us, content, stored_hash = row[0], row[1], row[2], row[4]
        if link_hash_v1(previous, seq, appended_us, content) == stored_hash:
            return (
                "the row is in the chain format of an earlier Schild version (the columns beside the "
                "content were not hashed) and cannot be vouched for: keep that log as it is, and start "
                "a new one (in development: move var/audit.db and var/audit/ away)"
            )
        return "row content does not match its hash (a stored column or the content was changed)"

    def _checkpoints_hold(self, checkpoints: list[Checkpoint], row_hash: str) -> bool:
        if self.public_key is None:
            return True
        for checkpoint in checkpoints:
            if checkpoint.head_hash != row_hash:
                if not signature_holds(self.public_key, checkpoint):
                    return self._forged(checkpoint)
                vouched = self._last_vouched()
                return self._fail(
                    checkpoint.seq,
                    f"the chain was rewritten at or before seq {checkpoint.seq}: it no longer matches "
                    f"the signed checkpoint there{_where(checkpoint)}; "
                    + (
                        f"rows after seq {vouched} cannot be vouched for"
                        if vouched
                        else "no row can be vouched for"
                    ),
                )
            self._checkpoints_checked += 1
            if self._newest_matched is None or checkpoint.seq >= self._newest_matched.seq:
                self._newest_matched = checkpoint
        return True

    def _last_vouched(self) -> int:
        return self._newest_matched.seq if self._newest_matched is not None else self.after_seq

    def _forged(self, checkpoint: Checkpoint) -> bool:
        return self._fail(
            checkpoint.seq,
            f"the checkpoint at seq {checkpoint.seq}{_where(checkpoint)} has an invalid signature",
        )

    def _reused(self, seq: int, appended_us: int, checkpoint: Checkpoint) -> bool:
        if self.public_key is not None and not signature_holds(self.public_key, checkpoint):
            return self._forged(checkpoint)
        return self._fail(
            seq,
            f"seq {seq} was appended at {from_micros(appended_us).isoformat()}, after the checkpoint "
            f"at seq {checkpoint.seq}{_where(checkpoint)} had been signed "
            f"({from_micros(checkpoint.created_us).isoformat()}): the number was reused (rows were "
            "cut and appended again, or an older backup was restored and written on)",
        )

    def finish(
        self, newest_checkpoint: Checkpoint | None = None, log_head_seq: int | None = None
    ) -> Verification:
        """The verdict; `newest_checkpoint` beyond the log head (default: the last row fed) is a cut tail."""
        if self._broken is not None:
            return self._broken
        head = self._head_seq if log_head_seq is None else log_head_seq
        key = self.public_key
        if key is not None and newest_checkpoint is not None and newest_checkpoint.seq > head:
            if not signature_holds(key, newest_checkpoint):
                self._forged(newest_checkpoint)
            elif head == 0:
                self._fail(
                    1,
                    f"the log is empty, but a signed checkpoint{_where(newest_checkpoint)} covers seq "
                    f"{newest_checkpoint.seq}: the log was wiped",
                )
            else:
                self._fail(
                    head + 1,
                    f"truncated: a signed checkpoint{_where(newest_checkpoint)} covers seq "
                    f"{newest_checkpoint.seq} but the log ends at seq {head} (rows cut from the end, "
                    "or an older backup restored)",
                )
            assert self._broken is not None  # noqa: S101 - set by _fail
            return self._broken
        if (
            key is not None
            and self._newest_matched is not None
            and not signature_holds(key, self._newest_matched)
        ):
            self._forged(self._newest_matched)
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
    anchors: Sequence[Checkpoint] = (),
) -> Verification:
    """Recomputes the chain in seq order; names the first row whose place, link or content does not hold."""
    check = ChainCheck(expected_previous, after_seq, checkpoints or {}, public_key, anchors)
    check.feed(rows)
    return check.finish(newest([*(checkpoints or {}).values(), *anchors]))
