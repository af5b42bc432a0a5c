"""The CSV bulk import's checks (every bad line named) and the export's round trip."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from anpr_match.domain.entries import Category, ListRules
from anpr_match.domain.hotlist_csv import ParsedImport, export_lines, parse_import

# Relative to the day the tests run: no date here expires.
NOW = datetime.now(UTC).replace(microsecond=0)
START = (NOW - timedelta(days=28)).replace(hour=0, minute=0, second=0)  # a local midnight, +01:00
END = (NOW + timedelta(days=34)).replace(hour=0, minute=0, second=0)
LATER = (NOW + timedelta(days=3)).replace(hour=0, minute=0, second=0)
LISTS = {"stolen": ListRules("stolen", Category.STOLEN_VEHICLE)}
HEADER = "plate,country,list_name,category,priority,action,valid_from,valid_until,reason,case_reference\n"


def parse(text: str) -> ParsedImport:
    counter = itertools.count()
    return parse_import(
        text, LISTS, now=NOW, source_zone="5344", entered_by="alice", new_id=lambda: f"id-{next(counter)}"
    )


def test_good_lines_become_entries_with_the_lists_defaults() -> None:
    parsed = parse(
        HEADER
        + f"1-abc-234,be,stolen,,5,stop,{START:%Y-%m-%dT%H:%M:%S}+01:00,,stolen car,PV/1\n"
        + f"XYZ987,,stolen,no_insurance,,,,{END:%Y-%m-%dT%H:%M:%S}Z,uninsured,PV/2\n"
    )
    assert parsed.errors == [] and parsed.error_count == 0
    first, second = parsed.entries
    assert (first.plate, first.country, first.category, first.priority, first.action) == (
        "1ABC234",
        "BE",
        Category.STOLEN_VEHICLE,
        5,
        "stop",
    )
    assert first.valid_from == START - timedelta(hours=1)
    assert (second.category, second.priority, second.action, second.valid_from) == (
        Category.NO_INSURANCE,
        1,
        "notify",
        NOW,
    )
    assert second.valid_until == END
    assert (first.entered_by, first.source_zone, first.entry_id) == ("alice", "5344", "id-0")


def test_a_full_width_plate_is_imported_as_the_plate_it_spells() -> None:
    parsed = parse(HEADER + "１ＡＢＣ２３４,,stolen,,,,,,stolen car,PV/1\n")
    assert parsed.errors == []
    assert [entry.plate for entry in parsed.entries] == ["1ABC234"]


def test_every_bad_line_is_reported_with_its_number_and_reason() -> None:
    parsed = parse(
        HEADER
        + "1ABC234,,stolen,,,,,,ok,PV/1\n"  # line 2: fine
        + "A,,stolen,,,,,,r,PV\n"  # 3
        + "1ABC235,,parking,,,,,,r,PV\n"  # 4
        + f"1ABC236,,stolen,,,,{LATER:%Y-%m-%dT%H:%M:%S}Z,{START:%Y-%m-%dT%H:%M:%S}Z,r,PV\n"  # 5
        + "1ABC237,,stolen,,12,,,,r,PV\n"  # 6
        + f"1ABC238,,stolen,,,,{LATER:%Y-%m-%dT%H:%M:%S},,r,PV\n"  # 7
        + "1ABC239,,stolen,,,,,,,PV\n"  # 8
        + "1ABC240,,stolen\n"  # 9
        + "1ABC241,BEL,stolen,,,,,,r,PV\n"  # 10
        + "1ABC242,,stolen,towed,,,,,r,PV\n"  # 11
    )
    reasons = {e.line: e.reason for e in parsed.errors}
    assert sorted(reasons) == list(range(3, 12))
    assert "plate" in reasons[3]
    assert "list 'parking' does not exist" in reasons[4]
    assert "valid_until must be after valid_from" in reasons[5]
    assert "priority" in reasons[6]
    assert "timezone" in reasons[7]
    assert "reason is required" in reasons[8]
    assert "3 fields" in reasons[9]
    assert "country" in reasons[10]
    assert "category 'towed'" in reasons[11]
    assert parsed.error_count == 9


def test_a_bare_line_break_in_a_field_is_reported_at_its_line_and_nothing_is_kept() -> None:
    parsed = parse(HEADER + "1ABC234,,stolen,,,,,,r,PV/1\n1AB\rC235,,stolen,,,,,,r,PV/2\n")
    assert parsed.error_count == 1
    [error] = parsed.errors
    assert error.line == 3 and "line break" in error.reason
    broken_header = parse("pla\rte,list_name\n1ABC234,stolen\n")
    assert (broken_header.error_count, broken_header.errors[0].line) == (1, 1)


def test_a_bad_header_or_an_empty_file_is_refused() -> None:
    assert "missing columns ['reason'" in parse("plate,list_name\n1ABC234,stolen\n").errors[0].reason
    assert "unknown columns ['colour']" in parse(HEADER.strip() + ",colour\n").errors[0].reason
    assert parse("").errors[0].line == 1
    assert "no entries" in parse(HEADER).errors[0].reason


def test_an_export_imports_again_as_the_same_entries() -> None:
    parsed = parse(HEADER + f"1ABC234,BE,stolen,,5,stop,{START:%Y-%m-%dT%H:%M:%S}+00:00,,stolen car,PV/1\n")
    exported = "".join(export_lines(parsed.entries))
    assert exported.splitlines()[0].startswith("entry_id,plate,country,list_name")
    again = parse(exported)
    assert again.errors == []
    [before], [after] = parsed.entries, again.entries
    assert {**before.__dict__, "entry_id": ""} == {**after.__dict__, "entry_id": ""}
