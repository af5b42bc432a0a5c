"""Publish-once intake in batches: frames and reads that arrive together share one dedupe transaction
and one round of Kafka sends, instead of a transaction and a broker round trip each.

A batch starts at once while fewer than `max_in_flight` batches are running; under load the
intakes that arrive meanwhile wait and go together in the next one, so batches grow with the load
and a lone frame is never held back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from anpr_core.bus import BusUnavailable
from anpr_ingest import timing
from anpr_ingest.adapters.dedupe import IntakeDedupe
from anpr_ingest.domain.errors import DedupeUnavailable
from anpr_ingest.domain.intake import Intake

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the batcher needs of the bus (anpr_core.bus.Bus has it)."""

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None: ...


class PublishUnconfirmed(BusUnavailable):
    """The broker did not acknowledge the record (an error or a timeout): it may still reach Kafka,
    since the producer goes on sending it. The claim is kept unconfirmed, so a resend is published
    again under the same event id, and the sinks keep one copy."""

    def __init__(self, event_id: str, cause: BaseException) -> None:
        super().__init__(f"the broker did not acknowledge event {event_id}: {cause}")
        self.event_id = event_id


@dataclass(slots=True)
class _Waiting:
    intake: Intake
    future: asyncio.Future[str | None]
    since: float = field(default_factory=time.perf_counter)


class IntakeBatcher:
    def __init__(self, dedupe: IntakeDedupe, bus: Publisher, *, max_batch: int, max_in_flight: int) -> None:
        self._dedupe = dedupe
        self._bus = bus
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._waiting: deque[_Waiting] = deque()
        # Keys in a running batch: a second intake of the same key waits for that batch to end,
        # then finds the committed row (a duplicate) or, if the publish failed, takes the intake.
        self._claimed: set[tuple[str, float, str]] = set()
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, intake: Intake) -> str | None:
        """Publishes unless Kafka holds it already, and returns None once Kafka holds it (acks=all);
        returns the original event id of a duplicate (one the broker acknowledged before).

        Raises PublishUnconfirmed (it may be in Kafka or not: a resend is published again under the
        same event id) or DedupeUnavailable (not published).
        """
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(intake, future))
        self._dispatch()
        return await future

    async def drain(self) -> None:
        """Waits for the running batches (at shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def _dispatch(self) -> None:
        while self._waiting and len(self._running) < self._max_in_flight:
            batch: list[_Waiting] = []
            later: list[_Waiting] = []
            while self._waiting and len(batch) < self._max_batch:
                waiting = self._waiting.popleft()
                if waiting.future.done():  # the request went away before its turn: nothing to do
                    continue
                key = waiting.intake.entry.key
                if key in self._claimed:
                    later.append(waiting)
                    continue
                self._claimed.add(key)
                batch.append(waiting)
            self._waiting.extendleft(reversed(later))
            if not batch:
                return
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._dispatch()

    async def _run(self, batch: list[_Waiting]) -> None:
        started = time.perf_counter()
        timing.QUEUED.observe(started - batch[0].since)
        timing.INTAKE_BATCH_SIZE.observe(len(batch))
        outcomes: dict[int, str | None | BaseException] = {}
        published: list[_Waiting] = []
        try:
            # 1. Claim every key in one transaction, left open while the broker acknowledges: a new
            #    key, or one whose earlier publish is unconfirmed, is ours to publish; a key Kafka
            #    acknowledged before is a duplicate.
            async with self._dedupe.claim_batch([w.intake.entry for w in batch]) as claims:
                claimed = time.perf_counter()
                timing.CLAIM.observe(claimed - started)
                fresh = []
                for waiting in batch:
                    original = claims.original(waiting.intake.entry)
                    if original is None:
                        fresh.append(waiting)
                    else:
                        outcomes[id(waiting)] = original
                # 2. Send every fresh record, then wait for every acknowledgement (acks=all).
                results = await asyncio.gather(
                    *(self._bus.publish(w.intake.topic, w.intake.key, w.intake.value) for w in fresh),
                    return_exceptions=True,
                )
                acked = time.perf_counter()
                timing.PUBLISH.observe(acked - claimed)
                unconfirmed = []
                for waiting, result in zip(fresh, results, strict=True):
                    if isinstance(result, BaseException):
                        event_id = waiting.intake.entry.event_id
                        outcomes[id(waiting)] = PublishUnconfirmed(event_id, result)
                        unconfirmed.append(waiting)
                    else:
                        outcomes[id(waiting)] = None
                        published.append(waiting)
                # 3. Keep the claims of what the broker did not acknowledge, marked unconfirmed: the
                #    producer may still deliver them, so a retry publishes again under the same id.
                await claims.keep_unconfirmed([w.intake.entry for w in unconfirmed])
            # 4. Committed: only now is a 202 given.
            timing.COMMIT.observe(time.perf_counter() - acked)
        except Exception as error:  # noqa: BLE001 - each waiting request is answered with it
            failure: BaseException = error
            if isinstance(error, SQLAlchemyError | OSError):
                failure = DedupeUnavailable(f"the dedupe table did not answer: {error}")
            # Answers already known stand: a duplicate's, a publish's (the broker holds it, so the
            # answer is 202; only the dedupe entry is lost, and a resend is the same event), and an
            # unconfirmed publish's. The rest were never published.
            for waiting in batch:
                if id(waiting) not in outcomes:
                    outcomes[id(waiting)] = failure
            if published:
                log.warning(
                    "dedupe entries of %d published records not committed", len(published), exc_info=True
                )
        finally:
            for waiting in batch:
                self._claimed.discard(waiting.intake.entry.key)
                outcome = outcomes.get(
                    id(waiting), BusUnavailable("intake stopped before the broker answered")
                )
                if waiting.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    waiting.future.set_exception(outcome)
                else:
                    waiting.future.set_result(outcome)
