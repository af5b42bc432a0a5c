"""The national plate formats of Europe, loaded from plate_formats.toml and checked at import.

The table is data (see the TOML file's header for its language); this module turns it into typed
formats and their fixed-length variants, and refuses a malformed table with a clear error, so a
bad edit stops the service at start rather than misreading plates. Pure: reading the packaged file
is the only I/O, once.
"""

from __future__ import annotations

import math
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from anpr_detect.domain.layouts import ROW_BREAK, LayoutError, Variant, expand_layout

__all__ = [
    "SERIES",
    "TABLE_PATH",
    "Country",
    "FormatTable",
    "FormatTableError",
    "PlateFormat",
    "format_table",
    "load_format_table",
]

TABLE_PATH = Path(__file__).with_name("plate_formats.toml")
SERIES = frozenset({"standard", "older", "special", "diplomatic", "trade", "temporary", "military"})
_LETTERS = string.ascii_uppercase
_DIGITS = string.digits
_BUILT_IN_CLASSES = {"L": _LETTERS, "D": _DIGITS, "A": _LETTERS + _DIGITS}
_FORMAT_KEYS = frozenset(
    {"country", "name", "series", "layout", "layouts", "two_row", "weight", "exclude", "classes"}
    | {"max_length", "source"}
)


class FormatTableError(ValueError):
    """The format table is malformed; the message names the entry and what is wrong."""


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2 (GB for the United Kingdom, XK for Kosovo)
    name: str
    band: tuple[str, ...]  # the distinguishing signs printed on its plates' band, e.g. ("B",)


@dataclass(frozen=True)
class PlateFormat:
    index: int  # position in the table
    country: str
    name: str
    series: str
    layouts: tuple[str, ...]
    two_row: str | None
    weight: float
    source: str

    @property
    def label(self) -> str:
        """What a read reports as its format, e.g. "BE current (2010)"."""
        return f"{self.country} {self.name}"


# Compared and hashed by identity: the decoder caches one automaton per table.
@dataclass(frozen=True, eq=False)
class FormatTable:
    countries: Mapping[str, Country]
    formats: tuple[PlateFormat, ...]
    variants: tuple[Variant, ...]  # every format's variants, the table's order kept

    def variants_of(self, plate_format: PlateFormat) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.format_index == plate_format.index)

    def fitting(self, text: str) -> list[Variant]:
        """The variants that accept a normalised text as it is."""
        return [variant for variant in self.variants if variant.matches(text)]


@cache
def format_table() -> FormatTable:
    """The packaged table, loaded once."""
    return load_format_table(TABLE_PATH)


def load_format_table(path: Path) -> FormatTable:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise FormatTableError(f"{path}: {error}") from error
    return parse_format_table(data, str(path))


def parse_format_table(data: Mapping[str, Any], origin: str = "table") -> FormatTable:
    classes = {**_BUILT_IN_CLASSES, **_string_map(data.get("classes", {}), f"{origin}: [classes]")}
    lists = _lists(data.get("lists", {}), origin)
    countries = _countries(data.get("countries", {}), origin)
    formats: list[PlateFormat] = []
    variants: list[Variant] = []
    seen: set[tuple[str, str]] = set()
    entries = data.get("formats", [])
    if not isinstance(entries, list) or not entries:
        raise FormatTableError(f"{origin}: no [[formats]]")
    for index, entry in enumerate(entries):
        where = f"{origin}: format #{index + 1}"
        plate_format, format_variants = _format(index, entry, where, classes, lists, countries)
        key = (plate_format.country, plate_format.name)
        if key in seen:
            raise FormatTableError(f"{where}: {key[0]} {key[1]!r} is listed twice")
        seen.add(key)
        formats.append(plate_format)
        variants.extend(format_variants)
    missing = sorted(set(countries) - {f.country for f in formats})
    if missing:
        raise FormatTableError(f"{origin}: countries without a format: {', '.join(missing)}")
    return FormatTable(countries, tuple(formats), tuple(variants))


def _format(
    index: int,
    entry: Any,
    where: str,
    classes: Mapping[str, str],
    lists: Mapping[str, Sequence[str]],
    countries: Mapping[str, Country],
) -> tuple[PlateFormat, list[Variant]]:
    if not isinstance(entry, dict):
        raise FormatTableError(f"{where}: not a table")
    unknown = set(entry) - _FORMAT_KEYS
    if unknown:
        raise FormatTableError(f"{where}: unknown keys {sorted(unknown)}")
    country = entry.get("country")
    name = entry.get("name")
    if country not in countries:
        raise FormatTableError(f"{where}: country {country!r} is not in [countries]")
    if not isinstance(name, str) or not name.strip():
        raise FormatTableError(f"{where}: a name is required")
    where = f"{where} ({country} {name})"
    series = entry.get("series", "standard")
    if series not in SERIES:
        raise FormatTableError(f"{where}: series {series!r} is not one of {sorted(SERIES)}")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise FormatTableError(f"{where}: every format names its source")
    weight = entry.get("weight", 1.0)
    if not isinstance(weight, int | float) or not 0.0 < float(weight) <= 1.0 or not math.isfinite(weight):
        raise FormatTableError(f"{where}: weight must be in (0, 1], got {weight!r}")
    layouts = _layouts(entry, where)
    two_row = entry.get("two_row")
    if two_row is not None and (
        not isinstance(two_row, str) or len(layouts) != 1 or two_row.replace(ROW_BREAK, "") != layouts[0]
    ):
        raise FormatTableError(f"{where}: two_row must be the layout with one '/' where the upper row ends")
    exclude = entry.get("exclude", "")
    if not isinstance(exclude, str) or not set(exclude) <= set(_LETTERS):
        raise FormatTableError(f"{where}: exclude lists letters, got {exclude!r}")
    own = _string_map(entry.get("classes", {}), f"{where}: classes")
    merged = {**classes, **own}
    for symbol in ("L", "A"):
        merged[symbol] = "".join(c for c in merged[symbol] if c not in exclude)
    max_length = entry.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
        raise FormatTableError(f"{where}: max_length must be a positive integer")
    try:
        variants = [
            variant
            for layout in ([two_row] if two_row else layouts)
            for variant in expand_layout(layout, index, merged, lists, max_length=max_length)
        ]
    except LayoutError as error:
        raise FormatTableError(f"{where}: {error}") from error
    plate_format = PlateFormat(index, str(country), name, series, layouts, two_row, float(weight), source)
    return plate_format, variants


def _layouts(entry: Mapping[str, Any], where: str) -> tuple[str, ...]:
    single, several = entry.get("layout"), entry.get("layouts")
    if (single is None) == (several is None):
        raise FormatTableError(f"{where}: give either layout or layouts")
    layouts = [single] if single is not None else several
    if not isinstance(layouts, list) or not layouts or not all(isinstance(x, str) and x for x in layouts):
        raise FormatTableError(f"{where}: layouts must be non-empty strings")
    return tuple(layouts)


def _countries(raw: Any, origin: str) -> dict[str, Country]:
    if not isinstance(raw, dict) or not raw:
        raise FormatTableError(f"{origin}: [countries] is required")
    countries = {}
    for code, entry in raw.items():
        band = entry.get("band") if isinstance(entry, dict) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if len(code) != 2 or not code.isupper() or not code.isalpha():
            raise FormatTableError(f"{origin}: country code {code!r} is not ISO 3166 alpha-2")
        if not isinstance(name, str) or not isinstance(band, list) or not band:
            raise FormatTableError(f"{origin}: country {code} needs a name and its band signs")
        if not all(isinstance(sign, str) and sign.isalpha() and sign.isupper() for sign in band):
            raise FormatTableError(f"{origin}: country {code}: band signs are upper-case letters")
        countries[code] = Country(code, name, tuple(band))
    return countries


def _lists(raw: Any, origin: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise FormatTableError(f"{origin}: [lists] must be a table")
    lists = {}
    allowed = set(_LETTERS + _DIGITS)
    for name, words in raw.items():
        if not isinstance(words, list) or not words:
            raise FormatTableError(f"{origin}: list {name} is empty")
        if not all(isinstance(w, str) and w and set(w) <= allowed for w in words):
            raise FormatTableError(f"{origin}: list {name} holds words of A-Z0-9 only")
        if len(set(words)) != len(words):
            raise FormatTableError(f"{origin}: list {name} repeats a word")
        lists[name] = tuple(words)
    return lists


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise FormatTableError(f"{where} must be a table")
    for symbol, characters in raw.items():
        valid_symbol = len(symbol) == 1 and symbol.isupper() and symbol.isalpha()
        if not valid_symbol or not isinstance(characters, str) or not characters:
            raise FormatTableError(f"{where}: {symbol!r} must be one capital naming a string of characters")
        if not set(characters) <= set(_LETTERS + _DIGITS):
            raise FormatTableError(f"{where}: class {symbol} holds A-Z0-9 only")
    return dict(raw)


# Loaded and checked at import: a malformed table stops the service at start, not at the first plate.
format_table()
