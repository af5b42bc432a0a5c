"""Reading the recogniser's output along the national formats: look-alikes, countries, evidence."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_detect.domain.automaton import FormatAutomaton
from anpr_detect.domain.decoding import constrained_beam
from anpr_detect.domain.formats import format_table
from anpr_detect.domain.lattice import BLANK, CLASSES, SEPARATOR, Lattice, RecogniserAlphabet, plate_character
from anpr_detect.domain.priors import BELGIAN_ZONE, CountryPriors
from anpr_detect.domain.reading import PlateDecoder, ReadingSettings

DECODER = PlateDecoder()


def lattice(*characters: str | dict[str, float]) -> Lattice:
    """One timestep per character (a dict: its classes' probabilities, the rest blank), with a
    blank timestep between characters, as a CTC recogniser's output looks."""
    rows: list[npt.NDArray[np.float32]] = []
    for character in characters:
        spread = {character: 1.0} if isinstance(character, str) else character
        row = np.zeros(len(CLASSES), np.float32)
        for name, probability in spread.items():
            row[SEPARATOR if name == " " else CLASSES.index(name)] = probability
        row[BLANK] = max(0.0, 1.0 - row.sum())
        blank = np.zeros(len(CLASSES), np.float32)
        blank[BLANK] = 1.0
        rows.extend((row, blank))
    return Lattice(np.stack(rows))


def read(*characters: str | dict[str, float], settings: ReadingSettings | None = None):  # type: ignore[no-untyped-def]
    decoder = PlateDecoder(settings) if settings else DECODER
    result = decoder.read_lattice(lattice(*characters))
    assert result is not None
    return result


def test_a_look_alike_lands_where_the_format_puts_a_letter_on_the_recognisers_evidence() -> None:
    # A Slovak plate, its last O read as 0 (the recogniser hesitating): no format fits "BA123K0",
    # the letter O does, and costs less than what the recogniser gave the 0.
    result = read(*"BA123K", {"0": 0.6, "O": 0.35})
    assert (result.text, result.valid) == ("BA123KO", True)
    # Slovakia, Albania and Serbia print that layout alike, at the same prior: the best and the
    # runner-up are two of them.
    assert {result.country, result.runner_up_country} <= {"SK", "AL", "RS"}
    assert result.country != result.runner_up_country
    assert result.character_probabilities[-1] == pytest.approx(0.35)


def test_a_foreign_plate_is_not_forced_into_a_likelier_countrys_format() -> None:
    # Slovak BI-123KA: French SIV (prior 0.6 against 0.25) would need the I read as T; the
    # recogniser gave the I four times the T, which outweighs the prior.
    result = read(*"B", {"I": 0.8, "T": 0.15}, *"123KA")
    assert result.text == "BI123KA" and result.country != "FR"
    assert result.country in {"SK", "PL"}  # Poland's BI district prints the same


def test_a_valid_reading_read_with_high_probability_is_kept() -> None:
    # Czech 1AB 0234 (region A, 0 sure): the Belgian 1-ABO-234 is one look-alike away and far
    # likelier a priori, yet the reading stands, in its own format.
    result = read(*"1AB", {"0": 0.97, "O": 0.02}, *"234")
    assert (result.text, result.country, result.format_name) == ("1AB0234", "CZ", "CZ standard (2001)")


def test_an_unsure_valid_reading_gives_way_to_a_likelier_one() -> None:
    result = read(*"1AB", {"0": 0.55, "O": 0.44}, *"234")
    assert (result.text, result.country) == ("1ABO234", "BE")
    assert [r.text for r in result.readings[:2]] == ["1ABO234", "1AB0234"]


def test_the_band_sign_read_apart_names_the_country_among_identical_layouts() -> None:
    assert read(*"ABC 123").country == "BE"
    with_band = read(*"LT ABC 123")
    assert (with_band.text, with_band.country, with_band.formatted) == ("ABC123", "LT", "ABC 123")


def test_band_letters_are_never_invented() -> None:
    # Without a sign read, a plate of a layout Lithuania shares with Belgium reads as Belgian;
    # the band is not supposed.
    result = read(*"XYZ-987")
    assert result.country == "BE" and result.text == "XYZ987"


def test_what_fits_no_format_is_kept_as_read_without_a_country() -> None:
    result = read(*"7Q", {"X": 0.7, "K": 0.2}, *"Q77Q7")
    assert (result.text, result.valid, result.country) == ("7QXQ77Q7", False, "")
    assert result.formatted == "7QXQ77Q7"
    assert result.readings[0].text == "7QXQ77Q7" and result.readings[0].country == ""


def test_a_prior_of_zero_switches_a_country_off() -> None:
    no_lithuania = ReadingSettings(priors=CountryPriors({"BE": 0.0, "LT": 1.0}, default=0.25))
    assert read(*"ABC 123", settings=no_lithuania).country == "LT"


def test_a_reading_carries_its_evidence() -> None:
    result = read(*"1-ABC-2", {"3": 0.9, "8": 0.1}, *"4")
    assert result.text == "1ABC234"
    assert len(result.character_probabilities) == len(result.text)
    assert result.character_probabilities[5] == pytest.approx(0.9)
    assert 1 <= len(result.readings) <= 3 and result.readings[0].text == result.text
    assert sum(r.probability for r in result.readings) <= 1.0 + 1e-3  # each rounded to 4 places
    assert result.format_name == "BE current (2010)"


def test_a_doubled_letter_needs_the_blank_between() -> None:
    assert read(*"1AAB000").text == "1AAB000"
    # Without a blank between them, two timesteps of A are one A held.
    held = Lattice(np.concatenate([lattice(*"1AA").probabilities[:-1], lattice(*"A000").probabilities]))
    assert held.best_path()[0] == "1AA000"


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTVXYZ0123456789- ", min_size=2, max_size=12), st.floats(0.05, 1.0))
def test_the_decoder_never_returns_more_than_it_read(raw: str, confidence: float) -> None:
    """Whatever comes in: a valid reading fits a format of its country; an unvalidated one is the
    reading itself; every reading reported has its share; the confidence stays within 0..1."""
    result = DECODER.read_text([(raw, confidence)])
    plain = raw.replace("-", "").replace(" ", "")
    if len(plain) < 2:
        assert result is None
        return
    assert result is not None and 0.0 <= result.confidence <= 1.0
    if not result.valid:
        assert (result.text, result.country) == (plain, "")
    else:
        assert any(v.matches(result.text) for v in format_table().fitting(result.text))
        assert result.country == result.format_name.split(" ")[0]
    assert all(0.0 <= r.probability <= 1.0 for r in result.readings)


def test_the_beam_keeps_only_readings_the_formats_accept() -> None:
    automaton = FormatAutomaton(format_table())
    found = constrained_beam(
        lattice(*"1-ABC-234"), automaton, lookalike_weight=0.25, beam_width=8, separator_drop=0.3
    )
    assert found.accepted[0].text == "1-ABC-234"
    assert found.accepted[0].log_score == pytest.approx(0.0) == found.best_log_score
    assert all(automaton.accepting(h.state) for h in found.accepted)


def test_the_recognisers_dictionary_folds_onto_plate_characters() -> None:
    dictionary = ["blank", "a", "A", "Ö", "А", "-", " ", "中", "0", "０"]
    alphabet = RecogniserAlphabet(dictionary)
    row = np.array([[0.1, 0.1, 0.2, 0.05, 0.05, 0.1, 0.1, 0.2, 0.05, 0.05]], np.float32)
    folded = alphabet.fold(row)[0]
    assert folded[CLASSES.index("A")] == pytest.approx(0.35)  # a, A and the Cyrillic А
    assert folded[CLASSES.index("O")] == pytest.approx(0.05)  # Ö, as the plate shows it
    assert folded[SEPARATOR] == pytest.approx(0.2)
    assert folded[CLASSES.index("0")] == pytest.approx(0.1)  # and the full-width digit
    assert folded[BLANK] == pytest.approx(0.3)  # the blank and what is no plate character
    assert math.isclose(float(folded.sum()), 1.0, rel_tol=1e-5)
    assert (plate_character("Ž"), plate_character("·"), plate_character("中")) == ("Z", "-", None)


def test_priors_parse_and_refuse() -> None:
    priors = CountryPriors.parse("BE=1, nl=0.7,*=0.2")
    assert (priors.of("BE"), priors.of("NL"), priors.of("PL")) == (1.0, 0.7, 0.2)
    assert CountryPriors.parse(str(BELGIAN_ZONE)) == BELGIAN_ZONE
    for bad in ("BE", "BE=x", "BE=-1", "BEL=1", "", "BE=0,*=0"):
        with pytest.raises(ValueError, match="prior"):
            CountryPriors.parse(bad)
