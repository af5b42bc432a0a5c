"""Passages: the reads of one vehicle passing one camera, fused into one consensus reading.

A camera sees a passing car in several consecutive frames, and the reader may read it slightly
differently in each ("1ABC234", "1A8C234", "1ABC234"). Reads of one camera whose texts are the same,
or one look-alike swap apart, and that follow each other within a time window belong to one passage.
A passage's plate is a confidence-weighted vote per character position among its readings of the
most common length; it is emitted once, when no read has joined it for the window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from anpr_detect.domain.grammar import LOOK_ALIKE_PAIRS

__all__ = [
    "DEFAULT_WINDOW_S",
    "LivePassages",
    "Passage",
    "PassageTracker",
    "Sighting",
    "consensus",
    "passages_for",
    "same_vehicle_text",
]

DEFAULT_WINDOW_S = 3.0


@dataclass(frozen=True)
class Sighting:
    """One plate read, as far as passages care."""

    read_id: str
    camera_id: str
    plate: str  # normalised text
    confidence: float  # 0..1
    at: float  # capture time, seconds since the epoch


@dataclass(frozen=True)
class Passage:
    passage_id: str  # the camera and the first read's id: stable when the same reads are replayed
    camera_id: str
    plate: str  # consensus text
    confidence: float
    first_at: float
    last_at: float
    read_ids: tuple[str, ...]


def same_vehicle_text(a: str, b: str) -> bool:
    """Equal, or of equal length and differing in one position by a look-alike pair."""
    if a == b:
        return True
    if len(a) != len(b):
        return False
    differences = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    return len(differences) == 1 and frozenset(differences[0]) in LOOK_ALIKE_PAIRS


def consensus(readings: Sequence[tuple[str, float]]) -> tuple[str, float]:
    """The confidence-weighted reading of several (text, confidence) readings of one plate.

    Only readings of the most common length vote (by summed confidence; the longer length wins a
    tie), since a dropped or extra character shifts every position after it. Per position the
    character with the most confidence wins (the smaller character on a tie, so the result does not
    depend on order). The confidence is the voters' mean confidence times their mean agreement with
    the winning character across positions.
    """
    voting = [(text, max(0.0, confidence)) for text, confidence in readings if text]
    if not voting:
        raise ValueError("a consensus needs at least one non-empty reading")
    weight_by_length: dict[int, float] = defaultdict(float)
    for text, confidence in voting:
        weight_by_length[len(text)] += confidence
    length = max(weight_by_length, key=lambda n: (weight_by_length[n], n))
    voters = [(text, confidence) for text, confidence in voting if len(text) == length]

    characters = []
    agreement = 0.0
    for position in range(length):
        weights: dict[str, float] = defaultdict(float)
        for text, confidence in voters:
            weights[text[position]] += confidence
        winner = min(weights, key=lambda c: (-weights[c], c))
        characters.append(winner)
        total = sum(weights.values())
        agreement += weights[winner] / total if total > 0 else 1.0 / len(weights)
    mean_confidence = sum(confidence for _, confidence in voters) / len(voters)
    return "".join(characters), mean_confidence * agreement / length


@dataclass
class _OpenPassage:
    camera_id: str
    first: Sighting
    sightings: list[Sighting] = field(default_factory=list)

    @property
    def last_at(self) -> float:
        return max(s.at for s in self.sightings)

    def accepts(self, sighting: Sighting, window_s: float) -> bool:
        near = self.first.at - window_s <= sighting.at <= self.last_at + window_s
        return near and any(same_vehicle_text(s.plate, sighting.plate) for s in self.sightings)

    def closed(self) -> Passage:
        plate, confidence = consensus([(s.plate, s.confidence) for s in self.sightings])
        return Passage(
            passage_id=f"{self.camera_id}:{self.first.read_id}",
            camera_id=self.camera_id,
            plate=plate,
            confidence=confidence,
            first_at=min(s.at for s in self.sightings),
            last_at=self.last_at,
            read_ids=tuple(s.read_id for s in self.sightings),
        )


class PassageTracker:
    """Groups sightings into passages as they arrive; each passage is emitted once, when closed.

    Not thread-safe: one tracker belongs to one consumer loop.
    """

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError("the passage window must be positive")
        self._window_s = window_s
        self._open: dict[str, list[_OpenPassage]] = defaultdict(list)

    def add(self, sighting: Sighting) -> str:
        """Adds a sighting to its passage (a new one if none fits); returns the passage id.

        A sighting already held (a frame read again after a failed publish) joins nothing twice.
        """
        for held in self._open[sighting.camera_id]:
            if any(s.read_id == sighting.read_id for s in held.sightings):
                return f"{held.camera_id}:{held.first.read_id}"
        candidates = [p for p in self._open[sighting.camera_id] if p.accepts(sighting, self._window_s)]
        if candidates:
            # The most recently seen passage: two cars with look-alike plates rarely follow each other.
            passage = max(candidates, key=lambda p: p.last_at)
        else:
            passage = _OpenPassage(sighting.camera_id, sighting)
            self._open[sighting.camera_id].append(passage)
        passage.sightings.append(sighting)
        return f"{passage.camera_id}:{passage.first.read_id}"

    def close_due(self, now: float, camera_id: str | None = None) -> list[Passage]:
        """Passages no read has joined for longer than the window, before `now`; emitted once.

        With `camera_id`, only that camera's passages (`now` on that camera's clock).
        """
        due: list[Passage] = []
        cameras = list(self._open) if camera_id is None else [camera_id]
        for camera in cameras:
            passages = self._open.get(camera, [])
            keep = [p for p in passages if now - p.last_at <= self._window_s]
            due.extend(p.closed() for p in passages if now - p.last_at > self._window_s)
            if keep:
                self._open[camera] = keep
            else:
                self._open.pop(camera, None)
        return sorted(due, key=lambda p: (p.first_at, p.passage_id))

    def close_all(self) -> list[Passage]:
        """Every open passage, closed now (at shutdown, or at the end of an offline run)."""
        return self.close_due(float("inf"))

    def has_open(self, camera_id: str) -> bool:
        return bool(self._open.get(camera_id))


class LivePassages:
    """A PassageTracker fed as reads happen: membership by capture time, closing by a clock.

    Each camera's clock is its latest capture time, moved on by the wall clock (monotonic seconds,
    given by the caller) since that read came: a busy camera's passages close as its own capture
    times move past them, a camera gone quiet has its last passage closed by the wall clock, and
    cameras whose clocks are set differently never close each other's passages.
    """

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._tracker = PassageTracker(window_s)
        self._clocks: dict[str, tuple[float, float]] = {}  # camera -> (latest capture, wall then)

    def add(self, sighting: Sighting, wall: float) -> str:
        latest = self._clocks.get(sighting.camera_id)
        if latest is None or sighting.at >= latest[0]:
            self._clocks[sighting.camera_id] = (sighting.at, wall)
        return self._tracker.add(sighting)

    def close_due(self, wall: float) -> list[Passage]:
        due: list[Passage] = []
        for camera_id, (latest, seen) in list(self._clocks.items()):
            due.extend(self._tracker.close_due(latest + max(0.0, wall - seen), camera_id))
            if not self._tracker.has_open(camera_id):
                del self._clocks[camera_id]
        return sorted(due, key=lambda p: (p.first_at, p.passage_id))

    def close_all(self) -> list[Passage]:
        self._clocks.clear()
        return self._tracker.close_all()


def passages_for(sightings: Iterable[Sighting], window_s: float = DEFAULT_WINDOW_S) -> list[Passage]:
    """The passages of a finished run of sightings, in capture order (offline use)."""
    tracker = PassageTracker(window_s)
    for sighting in sorted(sightings, key=lambda s: (s.at, s.read_id)):
        tracker.add(sighting)
    return tracker.close_all()
