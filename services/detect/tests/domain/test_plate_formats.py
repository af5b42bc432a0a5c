"""The table of national formats: complete, sourced, checked at load, and every format reads back."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from anpr_detect.domain.formats import (
    FormatTable,
    FormatTableError,
    PlateFormat,
    format_table,
    parse_format_table,
)
from anpr_detect.domain.grammar import LOOK_ALIKE_PAIRS
from anpr_detect.domain.lattice import BLANK, CLASSES, Lattice, plate_character
from anpr_detect.domain.layouts import Variant
from anpr_detect.domain.priors import BELGIAN_ZONE
from anpr_detect.domain.reading import PlateDecoder, ReadingSettings

TABLE = format_table()
DECODER = PlateDecoder()
# A look-alike at half its twin's probability: a swap into a likelier country then outscores a
# sure reading, and only the rule for sure readings keeps it (at 1.0 every swap would tie with the
# reading, more readings than the beam holds).
TEMPTED = PlateDecoder(ReadingSettings(lookalike_weight=0.5))
EU = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)
OTHERS = {"GB", "CH", "NO", "AL", "BA", "ME", "MK", "RS", "XK", "UA"}
NEIGHBOURS = ("BE", "NL", "FR", "DE", "LU")
VARIANTS: list[Variant] = list(TABLE.variants)


def test_every_eu_member_the_uk_switzerland_norway_the_western_balkans_and_ukraine_have_formats() -> None:
    countries = {plate_format.country for plate_format in TABLE.formats}
    assert countries == EU | OTHERS
    assert all(plate_format.source.strip() for plate_format in TABLE.formats)


def test_belgium_and_its_neighbours_list_their_special_series() -> None:
    series = {(f.country, f.series) for f in TABLE.formats}
    for country in NEIGHBOURS:
        assert (country, "diplomatic") in series, country
    for country in ("BE", "FR", "DE"):
        assert {(country, "trade"), (country, "temporary")} <= series, country
    assert {("FR", "military"), ("DE", "military")} <= series
    assert any(f.two_row for f in TABLE.formats if f.country == "BE")


def test_a_layout_expands_into_its_fixed_length_variants_with_their_display_forms() -> None:
    german = next(f for f in TABLE.formats if f.label == "DE standard")
    variants = TABLE.variants_of(german)
    # A district of one to three letters, one or two letters, one to four digits; eight at most.
    assert {v.length for v in variants} == {3, 4, 5, 6, 7, 8}
    k_ab = next(v for v in variants if v.matches("KAB1234") and v.elements[0].length == 1)
    assert k_ab.display("KAB1234") == "K-AB 1234"
    assert k_ab.rows("KAB1234") == ("K-AB", "1234")
    assert k_ab.boundaries == frozenset({1, 3})
    assert not any(v.matches("QQ1234") for v in variants)  # QQ is no district


def _minimal(**format_fields: Any) -> dict[str, Any]:
    entry = {"country": "BE", "name": "current", "layout": "[1-9]-LLL-DDD", "source": "AR 20/07/2001"}
    entry.update(format_fields)
    return {"countries": {"BE": {"name": "Belgium", "band": ["B"]}}, "formats": [entry]}


@pytest.mark.parametrize(
    ("table", "says"),
    [
        (_minimal(source=""), "source"),
        (_minimal(layout="N-LLL-DDD"), "unknown class 'N'"),
        (_minimal(layout="{NOWHERE}-DDD"), "unknown list"),
        (_minimal(layout="L{0}"), "a repeat"),
        (_minimal(weight=1.5), "weight"),
        (_minimal(series="secret"), "series"),
        (_minimal(two_row="[1-9]-/LLLDDD"), "two_row"),
        (_minimal(country="ZZ"), r"not in \[countries\]"),
        (_minimal(colour="red"), "unknown keys"),
        ({**_minimal(), "countries": {"BE": {"name": "Belgium", "band": []}}}, "band"),
        ({**_minimal(), "lists": {"X": ["A-1"]}}, "A-Z0-9"),
    ],
)
def test_a_malformed_table_is_refused_with_what_is_wrong(table: dict[str, Any], says: str) -> None:
    with pytest.raises(FormatTableError, match=says):
        parse_format_table(table)


def test_the_packaged_table_is_checked_when_the_module_loads() -> None:
    # format_table() is called at import; the same function on a broken file raises.
    assert isinstance(TABLE, FormatTable) and len(TABLE.formats) > 80


LABELS = {f.label: f for f in TABLE.formats}


def _likelihood(plate_format: PlateFormat) -> float:
    return BELGIAN_ZONE.of(plate_format.country) * plate_format.weight


@settings(max_examples=400, deadline=None)
@given(variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**32 - 1))
def test_every_format_round_trips(variant: Variant, seed: int) -> None:
    """A plate drawn from any format, read as printed, comes back as that text, valid, in its own
    format and country. Another format that also fits the text wins only where it is at least as
    likely (the zone's prior times the format's weight: a BE 1973 plate over the same LT layout);
    the band sign, below, settles those."""
    text = variant.example(random.Random(seed))
    plate_format = TABLE.formats[variant.format_index]
    result = DECODER.read_text([(variant.display(text), 0.9)])
    assert result is not None and result.valid
    read_in = LABELS[result.format_name]
    if result.text != text:
        # Its first letters read as another country's band sign ahead of that country's plate
        # ("L-04990": DE short-term L-04 990, or LU 04990 behind its band): a reading, not a change.
        assert any(text == sign + result.text for sign in TABLE.countries[result.country].band)
        return
    assert read_in == plate_format or _likelihood(read_in) >= _likelihood(plate_format)
    assert any(v.matches(text) for v in TABLE.variants_of(read_in))
    if not any(TABLE.formats[v.format_index] != plate_format for v in TABLE.fitting(text)):
        assert (result.country, result.format_name) == (plate_format.country, plate_format.label)


@settings(max_examples=300, deadline=None)
@given(variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**32 - 1))
def test_the_band_sign_read_before_a_plate_names_its_country(variant: Variant, seed: int) -> None:
    """With the country's band sign read apart, a plate comes back in its country, whichever other
    countries print the same layout (Lithuania, Cyprus and Malta: LLL DDD; Belgium: LLL-DDD).
    Where the sign and the plate together are also a plate of that country ("F W-604-SR": a trade
    plate behind the band, or SIV FW-604-SR), either reading may win, in that country; where they
    are a plate of another country ("L X 123": Leipzig, or an old Luxembourg plate), that is
    another question, left out here."""
    text = variant.example(random.Random(seed))
    plate_format = TABLE.formats[variant.format_index]
    sign = TABLE.countries[plate_format.country].band[0]
    others = {TABLE.formats[v.format_index].country for v in TABLE.fitting(sign + text)}
    assume(not others - {plate_format.country})
    result = DECODER.read_text([(f"{sign} {variant.display(text)}", 0.9)])
    assert result is not None
    assert (result.country, result.valid) == (plate_format.country, True)
    same_country = {TABLE.formats[v.format_index].country for v in TABLE.fitting(sign + text)}
    assert result.text == text or (result.text == sign + text and plate_format.country in same_country)


@settings(max_examples=400, deadline=None)
@given(variant=st.sampled_from(VARIANTS), seed=st.integers(0, 2**32 - 1), bare=st.booleans())
def test_a_valid_raw_reading_is_never_changed(variant: Variant, seed: int, bare: bool) -> None:
    """Read as printed or without separators, a plate that fits a format keeps every character; at
    most a leading band sign of the country it is read in is taken for the band."""
    text = variant.example(random.Random(seed))
    result = DECODER.read_text([(text if bare else variant.display(text), 0.9)])
    assert result is not None and result.valid
    if result.text != text:
        signs = TABLE.countries[result.country].band
        assert any(text == sign + result.text for sign in signs), (text, result)


def _sure_lattice(display: str, sureness: list[float]) -> Lattice:
    """The recogniser's output for a plate read as printed: each character at its sureness, the
    rest of its timestep on its look-alike (the swap a format could tempt the decoder into), a
    blank between characters, separators as printed."""
    twins = {c: other for pair in LOOK_ALIKE_PAIRS for c in pair for other in pair if other != c}
    rows: list[npt.NDArray[np.float32]] = []
    for character, sure in zip(display, sureness, strict=False):
        plate = plate_character(character)
        if plate is None:
            continue
        row = np.zeros(len(CLASSES), np.float32)
        row[CLASSES.index(plate)] = sure
        row[CLASSES.index(twins[plate]) if plate in twins else BLANK] += 1.0 - sure
        blank = np.zeros(len(CLASSES), np.float32)
        blank[BLANK] = 1.0
        rows.extend((blank, row))
    rows.append(np.eye(1, len(CLASSES), BLANK, dtype=np.float32)[0])
    return Lattice(np.stack(rows))


@settings(max_examples=300, deadline=None)
@given(
    variant=st.sampled_from(VARIANTS),
    seed=st.integers(0, 2**32 - 1),
    sureness=st.lists(st.floats(0.91, 1.0), min_size=24, max_size=24),
)
def test_a_sure_valid_reading_of_the_recogniser_is_never_changed(
    variant: Variant, seed: int, sureness: list[float]
) -> None:
    """Read by the recogniser as printed, every character surer than 0.9 and the rest on its
    look-alike, a plate that fits a format keeps every character, whatever likelier country a swap
    would make of it, even where a look-alike costs little; at most a leading band sign of the
    country it is read in is the band."""
    text = variant.example(random.Random(seed))
    for decoder in (DECODER, TEMPTED):
        result = decoder.read_lattice(_sure_lattice(variant.display(text), sureness))
        assert result is not None and result.valid
        if result.text != text:
            signs = TABLE.countries[result.country].band
            assert any(text == sign + result.text for sign in signs), (text, result)
