"""Verifies the chain in the background, incrementally, signs checkpoints of the verified head,
anchors them outside the database, and publishes the verdict as a metric.

Every verification, in the background or asked for, goes through here, so that it always
compares the database with the anchors as well as with its own checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anpr_audit.adapters.anchors import ANCHOR_FAILURES, AnchorStore, gather_anchors
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.domain.chain import GENESIS, micros
from anpr_audit.domain.checkpoints import Checkpoint, newest, sign_checkpoint
from anpr_audit.domain.verification import Verification
from anpr_core.events import utcnow
from anpr_core.metrics import AUDIT_ANCHORED_AT, AUDIT_CHAIN_VALID, AUDIT_CHECKPOINTS, AUDIT_VERIFIED_AT

log = logging.getLogger(__name__)


class ChainWatch:
    def __init__(
        self,
        audit_log: AuditLog,
        signing_key: Ed25519PrivateKey,
        *,
        interval_s: float,
        checkpoint_interval_s: float = 5.0,
        anchors: Sequence[AnchorStore] = (),
    ) -> None:
        self._log = audit_log
        self._key = signing_key
        self.public_key = signing_key.public_key()
        self._interval_s = interval_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self.anchors = list(anchors)
        self._head_hash = GENESIS
        self._head_seq = 0
        self._broken: Verification | None = None
        # Per store, a signed checkpoint it has not taken yet (retried at the next interval).
        self._unanchored: dict[str, Checkpoint] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def verify(self, after_seq: int = 0, last_seq: int | None = None) -> Verification:
        """Recomputes rows after `after_seq` (to `last_seq`) against the database's checkpoints and
        every anchor in that range, and the log's end against the newest anchor."""
        return await self._log.verify(
            self.public_key,
            after_seq=after_seq,
            last_seq=last_seq,
            anchors=await gather_anchors(self.anchors, "read", after_seq, last_seq),
            newest_anchor=newest(await gather_anchors(self.anchors, "newest")),
        )

    async def check(self) -> Verification:
        """Verifies the rows appended since the last good head; a broken chain stays reported broken."""
        async with self._lock:
            return await self._check()

    async def _check(self) -> Verification:
        if self._broken is not None:
            AUDIT_CHAIN_VALID.set(0)
            AUDIT_VERIFIED_AT.set(time.time())
            return self._broken
        log_head, _ = await self._log.head()
        if log_head < self._head_seq:
            result = Verification(
                False,
                0,
                log_head + 1,
                f"truncated: rows up to seq {self._head_seq} were verified before, "
                f"the log now ends at {log_head}",
                self._head_hash,
                self._head_seq,
            )
        else:
            result = await self._log.verify(
                self.public_key,
                after_seq=self._head_seq,
                expected_previous=self._head_hash,
                anchors=await gather_anchors(self.anchors, "since", self._head_seq),
                newest_anchor=newest(await gather_anchors(self.anchors, "newest")),
            )
        if result.valid:
            self._head_hash, self._head_seq = result.head_hash, result.head_seq
        else:
            self._broken = result
            log.error("audit chain broken at seq %s: %s", result.first_broken_seq, result.reason)
        AUDIT_CHAIN_VALID.set(0 if self._broken else 1)
        AUDIT_VERIFIED_AT.set(time.time())  # a stale time: the watch no longer runs
        return result

    async def _sign(self, seq: int, head_hash: str) -> Checkpoint:
        # Never earlier than the row it signs was appended: so no row it covers can carry a later
        # append time, and a reused seq shows (chain.ChainCheck).
        appended_us = await self._log.appended_us_at(seq) or 0
        return sign_checkpoint(self._key, seq, head_hash, max(micros(utcnow()), appended_us))

    async def checkpoint(self) -> Checkpoint | None:
        """Verifies, then signs the verified head and anchors it; None when the chain is broken or empty.

        Only a verified head is signed, so a checkpoint never vouches for a tampered row.
        """
        async with self._lock:
            result = await self._check()
            if not result.valid or self._head_seq == 0:
                return None
            latest = await self._log.newest_checkpoint()
            if latest is not None and latest.seq >= self._head_seq:
                await self._anchor(None)
                return latest
            signed = await self._sign(self._head_seq, self._head_hash)
            if await self._log.add_checkpoint(signed):
                AUDIT_CHECKPOINTS.inc()
                log.info("audit checkpoint signed at seq %d", signed.seq)
            await self._anchor(signed)
            return signed

    async def checkpoint_at(self, seq: int, row_hash: str) -> Checkpoint | None:
        """Signs row `seq` (e.g. the end of an exported period) once the chain up to it verifies.

        `row_hash` is the hash the caller recomputed for that row; it must be the stored one.
        """
        async with self._lock:
            result = await self._check()
            if not result.valid or seq > self._head_seq or await self._log.row_hash_at(seq) != row_hash:
                return None
            signed = await self._sign(seq, row_hash)
            if await self._log.add_checkpoint(signed):
                AUDIT_CHECKPOINTS.inc()
                await self._anchor(signed)
                return signed
            existing = await self._log.checkpoints(seq, seq)
            return existing[0] if existing else None

    async def _anchor(self, signed: Checkpoint | None) -> None:
        """Hands `signed` (or, with None, what an earlier attempt could not) to every anchor store."""
        for store in self.anchors:
            kind = store.name.split(" ")[1]  # file, topic
            pending = signed or self._unanchored.get(store.name)
            if pending is None:
                AUDIT_ANCHORED_AT.labels(kind).set(time.time())  # it owes nothing: current
                continue
            try:
                await store.append(pending)
            except Exception as error:  # noqa: BLE001 - any store failure is retried, never fatal
                ANCHOR_FAILURES.labels(kind).inc()
                log.error("the %s did not take the checkpoint at seq %d: %s", store.name, pending.seq, error)
                self._unanchored[store.name] = pending
            else:
                AUDIT_ANCHORED_AT.labels(kind).set(time.time())
                self._unanchored.pop(store.name, None)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-chain-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for store in self.anchors:
            await store.close()

    async def _run(self) -> None:
        next_checkpoint = time.monotonic() + self._checkpoint_interval_s
        while True:
            try:
                if time.monotonic() >= next_checkpoint:
                    next_checkpoint = time.monotonic() + self._checkpoint_interval_s
                    await self.checkpoint()
                else:
                    await self.check()
            except Exception:
                log.exception("audit chain verification failed to run")
            await asyncio.sleep(min(self._interval_s, self._checkpoint_interval_s))
