"""The layout language of the plate format table: a layout string becomes its fixed-length variants.

A layout such as "{DE_DISTRICT}-L{1,2} D{1,4}" stands for several fixed-length strings shapes (a
district of one to three letters, one or two letters, one to four digits); each shape is a
Variant: one set of allowed words per element, the separators printed before each element, and
where a two-row plate breaks. Pure: the table (formats.py) supplies the classes and lists.
"""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Element", "LayoutError", "Variant", "expand_layout"]

_SEPARATORS = frozenset("- ")
ROW_BREAK = "/"
# A character class may be quantified at most this far; beyond, a layout is a mistake.
_MAX_REPEAT = 8


class LayoutError(ValueError):
    """A layout string that does not parse, or names a class or list the table lacks."""


@dataclass(frozen=True)
class Element:
    """One group of positions: one word of `words`, all of `length` characters."""

    words: frozenset[str]
    length: int
    prefixes: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @staticmethod
    def of(words: frozenset[str]) -> Element:
        length = len(next(iter(words)))
        prefixes = frozenset(word[:end] for word in words for end in range(1, length))
        return Element(words, length, prefixes)


@dataclass(frozen=True)
class Variant:
    """One fixed-length shape of a format: elements in order, each with the separator shown before
    it ("" for none), and the element that starts the lower row of a two-row plate (None: one row)."""

    format_index: int
    elements: tuple[Element, ...]
    separators: tuple[str, ...]
    row_break: int | None = None

    @property
    def length(self) -> int:
        return sum(element.length for element in self.elements)

    @property
    def boundaries(self) -> frozenset[int]:
        """Character positions at which the plate shows a separator (or a row ends)."""
        positions: set[int] = set()
        count = 0
        for index, (element, separator) in enumerate(zip(self.elements, self.separators, strict=True)):
            if count and (separator or index == self.row_break):
                positions.add(count)
            count += element.length
        return frozenset(positions)

    def matches(self, text: str) -> bool:
        if len(text) != self.length:
            return False
        start = 0
        for element in self.elements:
            if text[start : start + element.length] not in element.words:
                return False
            start += element.length
        return True

    def display(self, text: str, shown: frozenset[int] | None = None) -> str:
        """The text in this variant's display form; `shown` limits the separators to those positions."""
        return "".join(self._pieces(text, 0, len(self.elements), shown))

    def rows(self, text: str) -> tuple[str, ...]:
        """The display form split into the rows of a two-row plate (one row when it has none)."""
        if self.row_break is None:
            return (self.display(text),)
        return (
            "".join(self._pieces(text, 0, self.row_break, None)),
            "".join(self._pieces(text, self.row_break, len(self.elements), None)),
        )

    def example(self, rng: random.Random) -> str:
        """A string of this variant, drawn uniformly element by element."""
        return "".join(rng.choice(sorted(element.words)) for element in self.elements)

    def _pieces(self, text: str, first: int, last: int, shown: frozenset[int] | None) -> list[str]:
        pieces: list[str] = []
        start = sum(element.length for element in self.elements[:first])
        for index in range(first, last):
            element, separator = self.elements[index], self.separators[index]
            if separator and index > first and (shown is None or start in shown):
                pieces.append(separator)
            pieces.append(text[start : start + element.length])
            start += element.length
        return pieces


@dataclass(frozen=True)
class _Token:
    choices: tuple[tuple[Element, ...], ...]  # each choice: the elements it expands to (maybe none)
    separator: str  # shown before the token's first element
    starts_row: bool  # the lower row of a two-row plate starts here


def expand_layout(
    layout: str,
    format_index: int,
    classes: Mapping[str, str],
    lists: Mapping[str, Sequence[str]],
    *,
    max_length: int | None = None,
) -> list[Variant]:
    """Every fixed-length variant of `layout`, in order (shorter repeats first)."""
    tokens = _tokens(layout, classes, lists)
    variants = []
    for combination in itertools.product(*(token.choices for token in tokens)):
        elements: list[Element] = []
        separators: list[str] = []
        row_break: int | None = None
        pending = ""
        for token, choice in zip(tokens, combination, strict=True):
            pending = pending or token.separator
            if token.starts_row:
                row_break = len(elements)
            for position, element in enumerate(choice):
                elements.append(element)
                separators.append(pending if position == 0 else "")
                pending = ""
        variant = Variant(format_index, tuple(elements), tuple(separators), row_break)
        if elements and (max_length is None or variant.length <= max_length):
            variants.append(variant)
    if not variants:
        raise LayoutError(f"layout {layout!r} has no variant within {max_length} characters")
    return variants


def _tokens(layout: str, classes: Mapping[str, str], lists: Mapping[str, Sequence[str]]) -> list[_Token]:
    tokens: list[_Token] = []
    separator = ""
    starts_row = False
    position = 0
    while position < len(layout):
        symbol = layout[position]
        if symbol in _SEPARATORS:
            separator = separator or symbol
            position += 1
            continue
        if symbol == ROW_BREAK:
            starts_row = True
            position += 1
            continue
        if symbol == "'":
            end = layout.find("'", position + 1)
            literal = layout[position + 1 : end]
            if end < 0 or not literal or not all(c in _PLATE_CHARACTERS for c in literal):
                raise LayoutError(f"layout {layout!r}: a literal needs closing quotes and A-Z0-9 inside")
            elements = tuple(Element.of(frozenset(c)) for c in literal)
            tokens.append(_Token((elements,), separator, starts_row))
            position = end + 1
        elif symbol == "{" and not layout[position + 1 : position + 2].isdigit():
            end = layout.find("}", position)
            name = layout[position + 1 : end]
            if end < 0 or name not in lists:
                raise LayoutError(f"layout {layout!r}: unknown list {{{name}}}")
            by_length: dict[int, set[str]] = {}
            for word in lists[name]:
                by_length.setdefault(len(word), set()).add(word)
            choices: tuple[tuple[Element, ...], ...] = tuple(
                (Element.of(frozenset(words)),) for _, words in sorted(by_length.items())
            )
            tokens.append(_Token(choices, separator, starts_row))
            position = end + 1
        else:
            characters, position = _character_class(layout, position, classes)
            low, high, position = _quantifier(layout, position)
            element = Element.of(frozenset(characters))
            choices = tuple(tuple(element for _ in range(count)) for count in range(low, high + 1))
            tokens.append(_Token(choices, separator, starts_row))
        separator = ""
        starts_row = False
    if not tokens:
        raise LayoutError(f"layout {layout!r} is empty")
    return tokens


_PLATE_CHARACTERS = frozenset(string.ascii_uppercase + string.digits)


def _character_class(layout: str, position: int, classes: Mapping[str, str]) -> tuple[str, int]:
    symbol = layout[position]
    if symbol == "[":
        end = layout.find("]", position)
        if end < 0:
            raise LayoutError(f"layout {layout!r}: unclosed [")
        inside = layout[position + 1 : end]
        characters: set[str] = set()
        index = 0
        while index < len(inside):
            if index + 2 < len(inside) and inside[index + 1] == "-":
                characters.update(chr(code) for code in range(ord(inside[index]), ord(inside[index + 2]) + 1))
                index += 3
            else:
                characters.add(inside[index])
                index += 1
        if not characters or not characters <= _PLATE_CHARACTERS:
            raise LayoutError(f"layout {layout!r}: [{inside}] must list A-Z0-9 characters")
        return "".join(sorted(characters)), end + 1
    if symbol not in classes:
        raise LayoutError(f"layout {layout!r}: unknown class {symbol!r}")
    return classes[symbol], position + 1


def _quantifier(layout: str, position: int) -> tuple[int, int, int]:
    if layout[position : position + 1] != "{":
        return 1, 1, position
    end = layout.find("}", position)
    body = layout[position + 1 : end].split(",")
    try:
        low, high = (int(body[0]), int(body[-1])) if len(body) <= 2 else (-1, -1)
    except ValueError:
        low, high = -1, -1
    if end < 0 or not 0 <= low <= high <= _MAX_REPEAT or high == 0:
        raise LayoutError(f"layout {layout!r}: a repeat is {{n}} or {{m,n}} with 0 <= m <= n <= 8")
    return low, high, end + 1
