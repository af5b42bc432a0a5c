"""Verifies the chain in the background, incrementally, and publishes the verdict as a metric."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from anpr_audit.chain import GENESIS, Verification, verify_chain
from anpr_audit.storage import AuditLog
from anpr_core.metrics import AUDIT_CHAIN_VALID

log = logging.getLogger(__name__)


class ChainWatch:
    def __init__(self, audit_log: AuditLog, interval_s: float) -> None:
        self._log = audit_log
        self._interval_s = interval_s
        self._head_hash = GENESIS
        self._head_seq = 0
        self._broken = False
        self._task: asyncio.Task[None] | None = None

    async def check(self) -> Verification:
        """Verifies the rows appended since the last good head; a broken chain stays reported broken."""
        rows = [row async for row in self._log.chain_rows(after_seq=self._head_seq)]
        result = verify_chain(rows, expected_previous=self._head_hash, after_seq=self._head_seq)
        if result.valid:
            self._head_hash, self._head_seq = result.head_hash, result.head_seq
        else:
            self._broken = True
            log.error("audit chain broken at seq %s: %s", result.first_broken_seq, result.reason)
        AUDIT_CHAIN_VALID.set(0 if self._broken else 1)
        return result

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-chain-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:
                log.exception("audit chain verification failed to run")
            await asyncio.sleep(self._interval_s)
