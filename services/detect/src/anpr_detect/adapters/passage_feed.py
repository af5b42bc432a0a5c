"""The passages open in this instance: reads join them as they are made, each closed one comes out once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from anpr.v1 import common_pb2, passage_pb2, read_pb2
from anpr_core.events import new_meta
from anpr_detect.adapters.wire import derived_event_id, sighting_of
from anpr_detect.domain.passages import LivePassages, Passage
from anpr_detect.domain.reading import PlateDecoder

__all__ = ["PassageFeed"]


@dataclass
class _PassageContext:
    """What the passage event carries beyond the domain's Passage, gathered from its reads."""

    direction: common_pb2.Direction.ValueType
    display: dict[str, tuple[str, str]] = field(default_factory=dict)  # plate -> (formatted, country)


class PassageFeed:
    """Detect's passages: reads join them as they are made; each closed passage comes out once.

    One feed per consumer loop of a service instance: one for the reads made from frames, one for
    smart cameras' own reads. Frames and reads are keyed by camera, so all of a camera's reach one
    instance and its passages are whole. The limits: a partition moved
    to another instance mid-passage (a rebalance) splits that passage in two, the old owner closing
    what it saw and the new one starting afresh; passages still open when an instance dies without
    shutting down are lost (their reads are not). Membership goes by capture time; the monotonic
    `clock` only decides when a quiet camera's passage is due (domain/passages.py, LivePassages).
    """

    def __init__(
        self,
        window_s: float,
        zone_id: str,
        clock: Callable[[], float] = time.monotonic,
        decoder: PlateDecoder | None = None,
    ) -> None:
        self._live = LivePassages(window_s)
        self._zone_id = zone_id
        self._decoder = decoder or PlateDecoder()
        self._clock = clock
        self._context: dict[str, _PassageContext] = {}

    def join(self, reads: Iterable[read_pb2.PlateRead]) -> None:
        """Puts each read into its passage and stamps it with the passage id (reads without text: none)."""
        now = self._clock()
        for read in reads:
            if not read.plate:
                continue
            read.passage_id = self._live.add(sighting_of(read), now)
            context = self._context.setdefault(read.passage_id, _PassageContext(read.direction))
            if read.formatted:
                # A smart camera sends the text alone: the grammar gives the passage its display form.
                context.display.setdefault(read.plate, (read.formatted, read.country))

    def due(self) -> list[passage_pb2.Passage]:
        """Passages no read joined for the window: each is returned once, then forgotten."""
        return [self._event(passage) for passage in self._live.close_due(self._clock())]

    def close_all(self) -> list[passage_pb2.Passage]:
        """Every open passage, at shutdown."""
        return [self._event(passage) for passage in self._live.close_all()]

    def _event(self, passage: Passage) -> passage_pb2.Passage:
        context = self._context.pop(passage.passage_id, None) or _PassageContext(
            common_pb2.DIRECTION_UNSPECIFIED
        )
        formatted, country = context.display.get(passage.plate) or self._display_of(passage.plate)
        meta = new_meta(self._zone_id, "detect")
        meta.event_id = derived_event_id(passage.read_ids[0], "passage")
        event = passage_pb2.Passage(
            meta=meta,
            passage_id=passage.passage_id,
            camera_id=passage.camera_id,
            plate=passage.plate,
            formatted=formatted,
            country=country,
            confidence=passage.confidence,
            read_ids=passage.read_ids,
            direction=context.direction,
            zone=self._zone_id,
        )
        event.first_seen.FromNanoseconds(round(passage.first_at * 1e9))
        event.last_seen.FromNanoseconds(round(passage.last_at * 1e9))
        return event

    def _display_of(self, plate: str) -> tuple[str, str]:
        """The display form and country of a consensus text no read had exactly: from the formats."""
        found = self._decoder.read_text([(plate, 1.0)])
        if found is None or not found.valid or found.text != plate:
            return "", ""
        return found.formatted, found.country
