"""Verifies the chain in the background, incrementally, signs checkpoints of the verified head,
and publishes the verdict as a metric."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anpr_audit.chain import GENESIS, Checkpoint, Verification, micros, sign_checkpoint
from anpr_audit.storage import AuditLog
from anpr_core.events import utcnow
from anpr_core.metrics import AUDIT_CHAIN_VALID, AUDIT_CHECKPOINTS

log = logging.getLogger(__name__)


class ChainWatch:
    def __init__(
        self,
        audit_log: AuditLog,
        signing_key: Ed25519PrivateKey,
        *,
        interval_s: float,
        checkpoint_interval_s: float = 300.0,
    ) -> None:
        self._log = audit_log
        self._key = signing_key
        self.public_key = signing_key.public_key()
        self._interval_s = interval_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self._head_hash = GENESIS
        self._head_seq = 0
        self._broken: Verification | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> Verification:
        """Verifies the rows appended since the last good head; a broken chain stays reported broken."""
        async with self._lock:
            return await self._check()

    async def _check(self) -> Verification:
        if self._broken is not None:
            AUDIT_CHAIN_VALID.set(0)
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
                self.public_key, after_seq=self._head_seq, expected_previous=self._head_hash
            )
        if result.valid:
            self._head_hash, self._head_seq = result.head_hash, result.head_seq
        else:
            self._broken = result
            log.error("audit chain broken at seq %s: %s", result.first_broken_seq, result.reason)
        AUDIT_CHAIN_VALID.set(0 if self._broken else 1)
        return result

    async def checkpoint(self) -> Checkpoint | None:
        """Verifies, then signs the verified head; None when the chain is broken or empty.

        Only a verified head is signed, so a checkpoint never vouches for a tampered row.
        """
        async with self._lock:
            result = await self._check()
            if not result.valid or self._head_seq == 0:
                return None
            newest = await self._log.newest_checkpoint()
            if newest is not None and newest.seq >= self._head_seq:
                return newest
            signed = sign_checkpoint(self._key, self._head_seq, self._head_hash, micros(utcnow()))
            if await self._log.add_checkpoint(signed):
                AUDIT_CHECKPOINTS.inc()
                log.info("audit checkpoint signed at seq %d", signed.seq)
            return signed

    async def checkpoint_at(self, seq: int, row_hash: str) -> Checkpoint | None:
        """Signs row `seq` (e.g. the end of an exported period) once the chain up to it verifies.

        `row_hash` is the hash the caller recomputed for that row; it must be the stored one.
        """
        async with self._lock:
            result = await self._check()
            if not result.valid or seq > self._head_seq or await self._log.row_hash_at(seq) != row_hash:
                return None
            signed = sign_checkpoint(self._key, seq, row_hash, micros(utcnow()))
            if await self._log.add_checkpoint(signed):
                AUDIT_CHECKPOINTS.inc()
                return signed
            existing = await self._log.checkpoints(seq, seq)
            return existing[0] if existing else None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-chain-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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
