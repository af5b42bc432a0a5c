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
        """Adds a sighting to its passage (a new one if none fits); returns the passage id."""
        candidates = [p for p in self._open[sighting.camera_id] if p.accepts(sighting, self._window_s)]
        if candidates:
            # The most recently seen passage: two cars with look-alike plates rarely follow each other.
            passage = max(candidates, key=lambda p: p.last_at)
        else:
            passage = _OpenPassage(sighting.camera_id, sighting)
            self._open[sighting.camera_id].append(passage)
        passage.sightings.append(sighting)
        return f"{passage.camera_id}:{passage.first.read_id}"

    def close_due(self, now: float) -> list[Passage]:
        """Passages no read has joined for longer than the window, before `now`; emitted once."""
        due: list[Passage] = []
        for camera_id, passages in list(self._open.items()):
            keep = [p for p in passages if now - p.last_at <= self._window_s]
            due.extend(p.closed() for p in passages if now - p.last_at > self._window_s)
            if keep:
                self._open[camera_id] = keep
            else:
                del self._open[camera_id]
        return sorted(due, key=lambda p: (p.first_at, p.passage_id))

    def close_all(self) -> list[Passage]:
        """Every open passage, closed now (at shutdown, or at the end of an offline run)."""
        return self.close_due(float("inf"))


def passages_for(sightings: Iterable[Sighting], window_s: float = DEFAULT_WINDOW_S) -> list[Passage]:
    """The passages of a finished run of sightings, in capture order (offline use)."""
    tracker = PassageTracker(window_s)
    for sighting in sorted(sightings, key=lambda s: (s.at, s.read_id)):
        tracker.add(sighting)
    return tracker.close_all()
