"""Hotlist CSV: parsing and validating a bulk import (every bad line reported), and writing an export.

Pure: text in, entries or line errors out. Written for a million lines in seconds, so it checks
fields by hand rather than through a model per line.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from anpr_core.plates import normalise_plate
from anpr_match.domain.entries import PLATE_PATTERN, Category, HotlistEntry, ListRules

COLUMNS = (
    "plate",
    "country",
    "list_name",
    "category",
    "priority",
    "action",
    "valid_from",
    "valid_until",
    "reason",
    "case_reference",
)
REQUIRED = ("plate", "list_name", "reason", "case_reference")
EXPORT_COLUMNS = ("entry_id", *COLUMNS, "source_zone", "entered_by")
# Columns an export has and an import ignores, so an export can be imported again (as new entries).
IGNORED = ("entry_id", "source_zone", "entered_by")
MAX_ERRORS_REPORTED = 1000
_CATEGORIES = {c.value: c for c in Category}
_LIMITS = {"action": 200, "reason": 500, "case_reference": 100}
# Distinct validity times parsed once each, up to this many per import.
_MOMENTS_KEPT = 10_000
_new = object.__new__


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    reason: str


@dataclass(frozen=True)
class ParsedImport:
    entries: list[HotlistEntry]
    errors: list[LineError]
    error_count: int


def _moment(text: str, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"{column} {text!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise ValueError(f"{column} needs a timezone offset, e.g. {text}+01:00")
    try:
        moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"{column} {text!r} lies outside the years 1 to 9999 in UTC") from error
    return moment


def parse_import(
    text: str,
    lists: Mapping[str, ListRules],
    *,
    now: datetime,
    source_zone: str,
    entered_by: str,
    new_id: Callable[[], str],
) -> ParsedImport:
    """Every line checked; entries only mean something when `errors` is empty (all or nothing)."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as error:
        return ParsedImport([], [LineError(max(1, reader.line_num), _unreadable(error))], 1)
    if header is None:
        return ParsedImport([], [LineError(1, "the file is empty: a header line is required")], 1)
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in COLUMNS and n not in IGNORED]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing or len(set(names)) != len(names):
        reason = "header: " + "; ".join(
            part
            for part in (
                f"unknown columns {unknown}" if unknown else "",
                f"missing columns {missing}" if missing else "",
                "a column is repeated" if len(set(names)) != len(names) else "",
            )
            if part
        )
        return ParsedImport([], [LineError(1, f"{reason} (columns: {', '.join(COLUMNS)})")], 1)
    at = {name: names.index(name) for name in names}
    # An absent optional column reads the empty field appended to every row.
    columns = tuple(at.get(name, len(names)) for name in COLUMNS)
    check = _line_checker(columns, lists, now, source_zone, entered_by, new_id)
    width = len(names)
    entries: list[HotlistEntry] = []
    errors: list[LineError] = []
    error_count = 0
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                if len(row) != width:
                    raise ValueError(f"{len(row)} fields where the header has {width}")
                row.append("")
                entries.append(check(row))
            except ValueError as error:
                error_count += 1
                if len(errors) < MAX_ERRORS_REPORTED:
                    errors.append(LineError(reader.line_num, str(error)))
    except csv.Error as error:
        # The file is not CSV from here on: reported at its line, the rest is not checked.
        error_count += 1
        errors.append(LineError(reader.line_num, _unreadable(error)))
    if not entries and not error_count:
        errors.append(LineError(1, "the file has no entries"))
        error_count = 1
    return ParsedImport(entries, errors, error_count)


def _unreadable(error: csv.Error) -> str:
    if "new-line character" in str(error):
        reason = "a line break (CR or LF) inside a field that is not in double quotes: quote the field"
    else:
        reason = f"the line cannot be read as CSV ({error})"
    return f"{reason}; the lines after it were not checked"


def _line_checker(
    columns: tuple[int, ...],
    lists: Mapping[str, ListRules],
    now: datetime,
    source_zone: str,
    entered_by: str,
    new_id: Callable[[], str],
) -> Callable[[list[str]], HotlistEntry]:
    """The check of one row (in the file's column order), as a closure over what every row shares.

    Per row it only indexes and compares: times and countries repeat across a file, so each
    distinct text is parsed once.
    """
    plate_at, country_at, list_at, category_at, priority_at, action_at, from_at, until_at = columns[:8]
    reason_at, case_at = columns[8:]
    moments: dict[str, datetime] = {}
    countries: dict[str, str] = {"": ""}
    priorities = {str(n): n for n in range(10)}
    intern = sys.intern

    def moment(text: str, column: str) -> datetime:
        found = moments.get(text)
        if found is None:
            found = _moment(text, column)
            if len(moments) < _MOMENTS_KEPT:
                moments[text] = found
        return found

    def check(row: list[str]) -> HotlistEntry:
        raw_plate = row[plate_at].strip()
        plate = raw_plate if PLATE_PATTERN.match(raw_plate) else normalise_plate(raw_plate)
        if not PLATE_PATTERN.match(plate):
            raise ValueError(f"plate {raw_plate!r} is not 2 to 12 letters or digits")
        list_name = row[list_at].strip()
        rules = lists.get(list_name)
        if rules is None:
            raise ValueError(f"list {list_name!r} does not exist; create it with POST /v1/lists first")
        category_text = row[category_at].strip()
        category = _CATEGORIES.get(category_text) if category_text else rules.category
        if category is None:
            raise ValueError(f"category {category_text!r} is not one of {', '.join(_CATEGORIES)}")
        priority_text = row[priority_at].strip()
        priority = priorities.get(priority_text) if priority_text else 1
        if priority is None:
            if not (priority_text.isdigit() and 0 <= int(priority_text) <= 9):
                raise ValueError(f"priority {priority_text!r} is not a whole number from 0 to 9")
            priority = int(priority_text)
        raw_country = row[country_at].strip()
        country = countries.get(raw_country)
        if country is None:
            country = raw_country.upper()
            if not (len(country) == 2 and country.isalpha() and country.isascii()):
                raise ValueError(f"country {country!r} is not an ISO 3166 two-letter code")
            countries[raw_country] = country = intern(country)
        from_text = row[from_at].strip()
        valid_from = moment(from_text, "valid_from") if from_text else now
        until_text = row[until_at].strip()
        valid_until = moment(until_text, "valid_until") if until_text else None
        if valid_until is not None and valid_until <= valid_from:
            raise ValueError("valid_until must be after valid_from")
        reason = row[reason_at].strip()
        case_reference = row[case_at].strip()
        if not reason:
            raise ValueError("reason is required")
        if not case_reference:
            raise ValueError("case_reference is required")
        action = row[action_at].strip()
        for name, text in (("action", action), ("reason", reason), ("case_reference", case_reference)):
            if len(text) > _LIMITS[name]:
                raise ValueError(f"{name} is longer than {_LIMITS[name]} characters")
        return _entry(
            {
                "entry_id": new_id(),
                "plate": plate,
                "list_name": rules.name,
                "category": category,
                "priority": priority,
                "action": intern(action or "notify"),
                "valid_from": valid_from,
                "valid_until": valid_until,
                "source_zone": source_zone,
                "reason": reason,
                "case_reference": case_reference,
                "entered_by": entered_by,
                "country": country,
            }
        )

    return check


def _entry(fields: dict[str, Any]) -> HotlistEntry:
    """The entry these fields make, as HotlistEntry(**fields) would, for a fifth of the cost.

    A frozen dataclass sets each field through object.__setattr__ (some 3 us an entry, 3 s a
    million-line import); its instance dict is filled at once here instead.
    """
    entry = _new(HotlistEntry)
    entry.__dict__.update(fields)
    return entry


def export_lines(entries: Iterable[HotlistEntry]) -> Iterator[str]:
    """The export, header first, in the import's columns (plus id, zone and author), one line at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for entry in entries:
        writer.writerow(
            (
                entry.entry_id,
                entry.plate,
                entry.country,
                entry.list_name,
                entry.category.value,
                entry.priority,
                entry.action,
                entry.valid_from.isoformat(),
                entry.valid_until.isoformat() if entry.valid_until else "",
                entry.reason,
                entry.case_reference,
                entry.source_zone,
                entry.entered_by,
            )
        )
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
