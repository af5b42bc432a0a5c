"""The shared plate vocabulary: one normaliser, one set of confusable classes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_core.plates import DEFAULT_CONFUSABLE_CLASSES, Confusables, normalise_plate
from anpr_core.settings import CoreSettings

PLATE_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("1-abc-234", "1ABC234"),
        (" 1 ABC.234 ", "1ABC234"),
        ("ＡＢＣ １２３", "ABC123"),  # full-width forms from an OCR model or a keyboard
        ("é-1", "1"),
        ("", ""),
    ],
)
def test_normalise_plate(raw: str, plate: str) -> None:
    assert normalise_plate(raw) == plate


@given(st.text(max_size=20))
def test_normalise_plate_keeps_only_plate_characters_and_is_idempotent(raw: str) -> None:
    plate = normalise_plate(raw)
    assert set(plate) <= set(PLATE_CHARACTERS)
    assert normalise_plate(plate) == plate


def test_default_classes_map_each_character_to_its_class_representative() -> None:
    confusables = Confusables()
    assert confusables.classes == DEFAULT_CONFUSABLE_CLASSES
    assert confusables.canonical("IA8C234") == "1A8C234"
    assert confusables.canonical("OQD0") == "0000"
    assert confusables.key("i-a8c-234") == confusables.key("1ABC234")
    assert confusables.same_class("S", "5") and not confusables.same_class("S", "6")


@given(st.text(alphabet=PLATE_CHARACTERS, max_size=10), st.text(alphabet=PLATE_CHARACTERS, max_size=10))
def test_two_plates_share_a_key_exactly_when_each_position_is_in_one_class(first: str, second: str) -> None:
    confusables = Confusables()
    position_by_position = len(first) == len(second) and all(
        confusables.same_class(a, b) for a, b in zip(first, second, strict=True)
    )
    assert (confusables.key(first) == confusables.key(second)) is position_by_position


@pytest.mark.parametrize("classes", [("0O", "O1"), ("0",), ("-",)])
def test_overlapping_or_short_classes_are_refused(classes: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="confusable class"):
        Confusables(classes)


def test_a_zone_configures_its_classes_once_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANPR_CONFUSABLE_CLASSES", '["0o", "1i"]')
    settings = CoreSettings()
    assert settings.confusable_classes == ("0O", "1I")
    assert settings.confusables.canonical("O1L") == "01L"
    monkeypatch.setenv("ANPR_CONFUSABLE_CLASSES", '["0O", "0I"]')
    with pytest.raises(ValueError, match="more than one confusable class"):
        CoreSettings()
