"""The format table compiled into one deterministic automaton over plate characters.

Every variant of every format is a path of elements; each path may also be entered behind the
country's band sign as the recogniser read it ("B" before a Belgian plate) or behind one stray
leading letter (the band's edge, a bolt). The automaton's states are sets of positions on those
paths, built lazily (subset construction) and cached, so the decoder's beam steps through a
dictionary lookup per character. Separators are not part of it: the decoder tracks them itself.
Pure; the readers' worker threads share one automaton, so a new state is added under a lock.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass
from enum import Enum

from anpr_detect.domain.formats import FormatTable, PlateFormat
from anpr_detect.domain.layouts import Element, Variant

__all__ = ["DEAD", "Entry", "FormatAutomaton", "Path"]

DEAD = -1
_LETTERS = frozenset(string.ascii_uppercase)


class Entry(Enum):
    """How a path is entered: directly, behind the country's band sign, or behind a stray letter."""

    DIRECT = "direct"
    BAND = "band"
    STRAY = "stray"


@dataclass(frozen=True)
class Path:
    variant: Variant
    plate_format: PlateFormat
    entry: Entry
    elements: tuple[Element, ...]  # the entry's prefix element (if any), then the variant's
    prefix_length: int  # characters before the plate itself (the band sign, the stray letter)


# A position on a path: (path index, element index, characters of the element read so far).
_Position = tuple[int, int, str]


class FormatAutomaton:
    """The lazily built DFA of a format table. State 0 is the start; DEAD means no path fits."""

    def __init__(self, table: FormatTable) -> None:
        self.table = table
        paths: list[Path] = []
        for variant in table.variants:
            plate_format = table.formats[variant.format_index]
            paths.append(Path(variant, plate_format, Entry.DIRECT, variant.elements, 0))
            for sign in table.countries[plate_format.country].band:
                band = Element.of(frozenset({sign}))
                paths.append(Path(variant, plate_format, Entry.BAND, (band, *variant.elements), len(sign)))
            stray = Element.of(_LETTERS)
            paths.append(Path(variant, plate_format, Entry.STRAY, (stray, *variant.elements), 1))
        self.paths: tuple[Path, ...] = tuple(paths)
        start: frozenset[_Position] = frozenset((index, 0, "") for index in range(len(paths)))
        self._states: list[frozenset[_Position]] = [start]
        self._ids: dict[frozenset[_Position], int] = {start: 0}
        self._next: list[dict[str, int]] = [{}]
        self._accepting: list[tuple[int, ...] | None] = [None]
        self._lock = threading.Lock()

    @property
    def state_count(self) -> int:
        return len(self._states)

    def step(self, state: int, character: str) -> int:
        """The state after reading `character` (A-Z0-9) in `state`; DEAD when no path goes on."""
        known = self._next[state].get(character)
        if known is not None:
            return known
        with self._lock:
            return self._step_locked(state, character)

    def _step_locked(self, state: int, character: str) -> int:
        known = self._next[state].get(character)
        if known is not None:
            return known
        following = frozenset(
            position
            for current in self._states[state]
            if (position := self._advance(current, character)) is not None
        )
        target = DEAD if not following else self._intern(following)
        self._next[state][character] = target
        return target

    def accepting(self, state: int) -> tuple[int, ...]:
        """The paths (indices into `paths`) that end exactly in `state`."""
        found = self._accepting[state]
        if found is None:
            found = tuple(
                path
                for path, element, read in self._states[state]
                if element == len(self.paths[path].elements)
            )
            self._accepting[state] = found
        return found

    def _advance(self, position: _Position, character: str) -> _Position | None:
        path, index, read = position
        elements = self.paths[path].elements
        if index == len(elements):
            return None
        element = elements[index]
        word = read + character
        if len(word) == element.length:
            return (path, index + 1, "") if word in element.words else None
        return (path, index, word) if word in element.prefixes else None

    def _intern(self, positions: frozenset[_Position]) -> int:
        known = self._ids.get(positions)
        if known is not None:
            return known
        self._states.append(positions)
        self._next.append({})
        self._accepting.append(None)
        state = len(self._states) - 1
        self._ids[positions] = state
        return state
