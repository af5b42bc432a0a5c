"""Plate grammar: national formats, look-alike repair, band artefacts, unknown formats."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_core.plates import normalise_plate
from anpr_detect.domain.grammar import PlateInterpretation, interpret

LETTERS = string.ascii_uppercase
DIGITS = string.digits
NL_LETTERS = "BDFGHJKLNPRSTVXZ"
FR_LETTERS = "".join(letter for letter in LETTERS if letter not in "IOU")
DIGIT_TO_LETTER = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
LETTER_TO_DIGIT = {letter: digit for digit, letter in DIGIT_TO_LETTER.items()}


def chars(alphabet: str, count: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=count, max_size=count)


be_current = st.builds(lambda a, b, c: a + b + c, chars("123456789", 1), chars(LETTERS, 3), chars(DIGITS, 3))
be_1973 = st.builds(lambda a, b: a + b, chars(LETTERS, 3), chars(DIGITS, 3))
be_2008 = st.builds(lambda a, b: a + b, chars(DIGITS, 3), chars(LETTERS, 3))
be_plates = st.one_of(be_current, be_1973, be_2008)
fr_siv = st.builds(lambda a, b, c: a + b + c, chars(FR_LETTERS, 2), chars(DIGITS, 3), chars(FR_LETTERS, 2))
# NL sidecodes 4..11 as (letters/digits layout); K = NL consonant, D = digit.
NL_SIDECODES = ("KKDDKK", "KKKKDD", "DDKKKK", "DDKKKD", "DKKKDD", "KKDDDK", "KDDDKK", "KKKDDK")
nl_plates = st.sampled_from(NL_SIDECODES).flatmap(
    lambda layout: st.tuples(*(st.sampled_from(NL_LETTERS if c == "K" else DIGITS) for c in layout)).map(
        "".join
    )
)
confidences = st.floats(min_value=0.05, max_value=1.0)


@st.composite
def decorated(draw: st.DrawFn, plate: str) -> str:
    """The plate as OCR might print it: random separators between characters, random case."""
    out = []
    for index, character in enumerate(plate):
        if index:
            out.append(draw(st.sampled_from(["", "", "-", " ", ".", " - "])))
        out.append(character.lower() if draw(st.booleans()) else character)
    return "".join(out)


def read(raw: str, confidence: float = 0.9) -> PlateInterpretation:
    result = interpret([(raw, confidence)])
    assert result is not None
    return result


@given(plate=be_plates, data=st.data(), confidence=confidences)
def test_every_valid_belgian_plate_interprets_to_itself(
    plate: str, data: st.DataObject, confidence: float
) -> None:
    raw = data.draw(decorated(plate))
    result = read(raw, confidence)
    assert result.text == plate
    assert result.country == "BE"
    assert result.valid
    assert 0.0 < result.confidence <= confidence


@given(plate=be_current)
def test_belgian_current_plate_display_form(plate: str) -> None:
    assert read(plate).formatted == f"{plate[0]}-{plate[1:4]}-{plate[4:]}"


def test_belgian_display_forms() -> None:
    assert read("abc123").formatted == "ABC-123"
    assert read("123abc").formatted == "123-ABC"
    assert read("Z ABC 123").formatted == "Z-ABC-123"
    assert read("ZABC123").country == "BE"


@given(plate=be_current, position=st.sampled_from([4, 5, 6]), data=st.data())
def test_digit_read_as_letter_is_repaired_where_a_digit_is_demanded(
    plate: str, position: int, data: st.DataObject
) -> None:
    digit = data.draw(st.sampled_from(sorted(DIGIT_TO_LETTER)))
    expected = plate[:position] + digit + plate[position + 1 :]
    misread = expected[:position] + DIGIT_TO_LETTER[digit] + expected[position + 1 :]
    result = read(misread)
    assert result.text == expected
    assert result.valid and result.country == "BE"
    # A repair costs confidence compared with a clean reading.
    assert result.confidence < read(expected).confidence


@given(plate=be_current, position=st.sampled_from([1, 2, 3]), data=st.data())
def test_letter_read_as_digit_is_repaired_where_a_letter_is_demanded(
    plate: str, position: int, data: st.DataObject
) -> None:
    letter = data.draw(st.sampled_from(sorted(LETTER_TO_DIGIT)))
    expected = plate[:position] + letter + plate[position + 1 :]
    misread = expected[:position] + LETTER_TO_DIGIT[letter] + expected[position + 1 :]
    assert read(misread).text == expected


def test_repair_examples() -> None:
    assert read("1ABC2S4").text == "1ABC254"
    assert read("1-ABC-2S4").formatted == "1-ABC-254"
    assert read("IABC234").text == "1ABC234"
    assert read("1A8C234").text == "1ABC234"


@given(plate=st.one_of(be_plates, nl_plates, fr_siv))
def test_a_valid_plate_is_never_changed(plate: str) -> None:
    result = read(plate)
    assert result.text == plate
    assert result.valid


@given(plate=be_plates, separator=st.sampled_from(["", " ", "-"]))
def test_leading_band_artefact_is_dropped(plate: str, separator: str) -> None:
    result = read("B" + separator + plate)
    assert result.text == plate
    assert result.valid and result.country == "BE"


@pytest.mark.parametrize("raw", ["MAB1234", "GWT-2180", "OKL 0817", "MTW-5608", "SZ 1234"])
def test_a_foreign_plate_read_correctly_is_not_repaired_into_a_belgian_one(raw: str) -> None:
    result = read(raw)
    assert result.text == normalise_plate(raw)
    assert result.country != "BE"


def test_separators_the_reading_shows_must_fit_a_repaired_layout() -> None:
    assert read("1 ABC 2S4").text == "1ABC254"
    assert read("1A BC2S4").text == "1ABC2S4"  # boundary inside the letter group: not BE repaired


def test_band_artefact_examples() -> None:
    assert read("B1ABC234").text == "1ABC234"
    assert read("I 1-ABC-234").text == "1ABC234"
    assert read("F AB-123-CD").text == "AB123CD"
    # A category letter is part of the plate, not an artefact.
    assert read("ZABC123").text == "ZABC123"


@pytest.mark.parametrize("raw", ["4GLS168", "BGB3282", "BTZ7148", "7FR971", "HLOKTY1"])
def test_a_foreign_plate_does_not_lose_its_first_character_to_fit_a_shorter_layout(raw: str) -> None:
    # A digit is never a band artefact, and what is left after a letter must fit a distinctive
    # layout (BE, FR, NL), not a loose LU or DE one.
    assert read(raw).text == raw


@pytest.mark.parametrize(
    ("raw", "formatted"),
    [
        ("GB-12-TX", "GB-12-TX"),  # sidecode 4
        ("ZB-HT-12", "ZB-HT-12"),  # sidecode 5
        ("12-BD-FG", "12-BD-FG"),  # sidecode 6
        ("12 BDF 3", "12-BDF-3"),  # sidecode 7
        ("1KBF23", "1-KBF-23"),  # sidecode 8
        ("HN-123-K", "HN-123-K"),  # sidecode 9
        ("K-123-BF", "K-123-BF"),  # sidecode 10
        ("BDF-12-K", "BDF-12-K"),  # sidecode 11
    ],
)
def test_dutch_sidecodes(raw: str, formatted: str) -> None:
    result = read(raw)
    assert (result.country, result.formatted, result.valid) == ("NL", formatted, True)


def test_french_siv() -> None:
    result = read("ab 123 cd")
    assert (result.text, result.formatted, result.country, result.valid) == (
        "AB123CD",
        "AB-123-CD",
        "FR",
        True,
    )
    # SIV never uses I, O or U in its letter groups.
    assert read("AB-123-CU").country != "FR"


def test_german_and_luxembourg_plates() -> None:
    german = read("B-AB 1234")
    assert (german.text, german.formatted, german.country) == ("BAB1234", "B-AB 1234", "DE")
    bare = read("KAB1234")
    assert bare.country == "DE" and bare.valid
    # Without separators the German split is a guess, so it scores lower than a known split.
    assert bare.confidence < read("K-AB 1234").confidence
    luxembourg = read("AB 1234")
    assert (luxembourg.country, luxembourg.formatted) == ("LU", "AB 1234")


@pytest.mark.parametrize("raw", ["ABC1D23", "1234567890", "12AB", "7Q-X"])
def test_unknown_formats_are_kept_unvalidated(raw: str) -> None:
    result = read(raw, 0.8)
    assert result.text == normalise_plate(raw)
    assert result.formatted == result.text
    assert result.country == ""
    assert not result.valid
    assert result.confidence < 0.8


@given(raw=st.text(alphabet=LETTERS + DIGITS + " -.", max_size=14), confidence=confidences)
def test_interpretation_is_never_forced(raw: str, confidence: float) -> None:
    """Whatever comes in, the interpretation differs from the reading by at most one repaired
    character and one dropped leading character, and an invalid one is the reading itself."""
    normalised = normalise_plate(raw)
    result = interpret([(raw, confidence)])
    if len(normalised) < 2:
        assert result is None
        return
    assert result is not None
    assert 0.0 <= result.confidence <= confidence
    if not result.valid:
        assert (result.text, result.formatted, result.country) == (normalised, normalised, "")
        return
    dropped = len(normalised) - len(result.text)
    assert dropped in (0, 1)
    differences = sum(a != b for a, b in zip(normalised[dropped:], result.text, strict=True))
    assert differences <= 1
    assert normalise_plate(result.formatted) == result.text


def test_best_valid_candidate_wins() -> None:
    result = interpret([("1ABC23", 0.95), ("1-ABC-234", 0.9), ("1-A8C-234", 0.85)])
    assert result is not None and result.text == "1ABC234"
    # With no valid candidate the best reading comes back unvalidated.
    unknown = interpret([("7QQ", 0.9), ("77QQ7Q", 0.8)])
    assert unknown is not None and (unknown.text, unknown.valid) == ("7QQ", False)


@pytest.mark.parametrize("candidates", [[], [("", 0.9)], [("-", 0.9)], [("A", 0.9)], [(" 1 .", 0.9)]])
def test_nothing_to_interpret(candidates: list[tuple[str, float]]) -> None:
    assert interpret(candidates) is None


def test_normalise_plate() -> None:
    assert normalise_plate(" 1-abc.234 ") == "1ABC234"
    assert normalise_plate("ＡＢＣ １２３") == "ABC123"  # full-width forms from the OCR model
    assert normalise_plate("é-1") == "1"


def test_a_recogniser_alternative_reads_a_plate_the_look_alike_table_cannot_repair() -> None:
    # "U" for "4" is not a look-alike pair; the recogniser's runner-up at that character is.
    result = interpret([("1ABC2U4", 0.8)], alternatives=[("1ABC244", 0.6)])
    assert result is not None and (result.text, result.valid, result.country) == ("1ABC244", True, "BE")
    assert result.confidence < 0.6


def test_recogniser_alternatives_are_held_to_a_repairs_rules() -> None:
    # Not over a valid reading.
    valid = interpret([("1ABC234", 0.9)], alternatives=[("1ABC284", 0.85)])
    assert valid is not None and valid.text == "1ABC234"
    # Not into a layout no repair may produce (the BE category letters are look-alikes themselves).
    category = interpret([("OKLM2X5", 0.9)], alternatives=[("OKLM235", 0.5)])
    assert category is not None and (category.text, category.valid) == ("OKLM2X5", False)
    # Not with a dropped character or a further repair on top.
    assert interpret([("NZJ6581", 0.9)], alternatives=[("NZJG581", 0.5)]) == interpret([("NZJ6581", 0.9)])
