"""Pure rules of the register and intake: plate text, reads, crops, status changes, silence, skew,
and the public map's content."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from anpr_core.plates import normalise_plate
from anpr_ingest.domain.cameras import (
    CameraStatus,
    StatusChangeRefused,
    check_status_change,
    is_silent,
)
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.intake import (
    CropLimits,
    check_crop,
    check_read,
    clock_skew_seconds,
    frame_digest,
    read_digest,
)
from anpr_ingest.domain.public_map import CSV_COLUMNS, MapCamera, geojson_text, to_csv

NOW = datetime(2026, 11, 28, 20, 15, tzinfo=UTC)
SKEW = timedelta(seconds=300)
CROPS = CropLimits(max_bytes=64 * 1024, min_side=8, max_side=2048)


@pytest.mark.parametrize(
    ("text", "plate"),
    [("1-ABC-234", "1ABC234"), ("1 abc 234", "1ABC234"), ("ab.12.cd", "AB12CD"), ("Ü-123", "123")],
)
def test_plate_text_is_normalised_to_upper_case_letters_and_digits(text: str, plate: str) -> None:
    assert normalise_plate(text) == plate


@given(st.text(max_size=40))
def test_normalised_plates_hold_only_a_to_z_and_digits_and_are_stable(text: str) -> None:
    plate = normalise_plate(text)
    assert all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" for c in plate)
    assert normalise_plate(plate) == plate


def test_read_is_checked_for_text_confidence_and_time() -> None:
    assert check_read("1-abc-234", 0.5, NOW, NOW, SKEW) == "1ABC234"
    # The shared normaliser (anpr_core.plates) folds full-width forms, as some cameras print them.
    assert check_read("１-ＡＢＣ-２３４", 0.5, NOW, NOW, SKEW) == "1ABC234"
    for text, confidence, at, reason in [
        ("--", 0.5, NOW, "bad_plate"),
        ("1ABC234", -0.1, NOW, "bad_confidence"),
        ("1ABC234", 0.5, NOW + timedelta(seconds=301), "clock_skew"),
        ("1ABC234", 0.5, NOW.replace(tzinfo=None), "naive_time"),
    ]:
        with pytest.raises(RejectedFrame) as refused:
            check_read(text, confidence, at, NOW, SKEW)
        assert refused.value.reason == reason


def image(fmt: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 200, 0)).save(buffer, format=fmt)
    return buffer.getvalue()


def test_crop_must_be_a_jpeg_within_limits() -> None:
    assert check_crop(image("JPEG", 120, 30), CROPS).width == 120
    for data, status in [
        (image("PNG", 120, 30), 415),
        (image("JPEG", 4, 30), 422),
        (b"\xff\xd8" * 40000, 413),
    ]:
        with pytest.raises(RejectedFrame) as refused:
            check_crop(data, CROPS)
        assert refused.value.status == status


@pytest.mark.parametrize("wanted", [CameraStatus.ACTIVE, CameraStatus.MAINTENANCE])
def test_a_retired_camera_is_not_brought_back(wanted: CameraStatus) -> None:
    with pytest.raises(StatusChangeRefused):
        check_status_change(CameraStatus.RETIRED, wanted)


@pytest.mark.parametrize("current", [CameraStatus.ACTIVE, CameraStatus.MAINTENANCE])
@pytest.mark.parametrize("wanted", list(CameraStatus))
def test_other_status_changes_are_allowed(current: CameraStatus, wanted: CameraStatus) -> None:
    check_status_change(current, wanted)


def test_only_an_active_camera_past_the_gap_is_silent() -> None:
    gap = timedelta(minutes=10)
    registered = NOW - timedelta(hours=1)
    assert is_silent(CameraStatus.ACTIVE, NOW - timedelta(minutes=11), registered, NOW, gap)
    assert not is_silent(CameraStatus.ACTIVE, NOW - timedelta(minutes=9), registered, NOW, gap)
    assert is_silent(CameraStatus.ACTIVE, None, registered, NOW, gap), "never reported since registration"
    assert not is_silent(CameraStatus.ACTIVE, None, NOW - timedelta(minutes=1), NOW, gap)
    for status in (CameraStatus.MAINTENANCE, CameraStatus.RETIRED):
        assert not is_silent(status, None, registered, NOW, gap)


def test_clock_skew_is_signed_camera_minus_server() -> None:
    assert clock_skew_seconds(NOW + timedelta(seconds=12), NOW) == 12
    assert clock_skew_seconds(NOW - timedelta(seconds=3), NOW) == -3


def test_frame_and_read_digests_never_collide_on_the_same_bytes() -> None:
    assert frame_digest(b"1ABC234\x00") != read_digest("1ABC234", b"")
    assert read_digest("1ABC234", b"x") != read_digest("1ABC23", b"4x")


MAP = [
    MapCamera("cam-1", "=HYPERLINK(evil)", "E40", "in", 50.9, 4.7, 50.91, 4.69, "exit 22"),
    MapCamera("cam-2", "Meir", "", "both", 51.2, 4.4, None, None, ""),
]


def test_csv_has_fixed_columns_and_defuses_spreadsheet_formulas() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(MAP))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1][1] == "'=HYPERLINK(evil)"
    assert rows[2][6:] == ["", "", ""]


def test_geojson_has_a_point_per_camera_and_per_sign_in_lon_lat_order() -> None:
    features = json.loads(geojson_text(MAP))["features"]
    assert [(f["properties"]["feature"], f["geometry"]["coordinates"]) for f in features] == [
        ("camera", [4.7, 50.9]),
        ("sign", [4.69, 50.91]),
        ("camera", [4.4, 51.2]),
    ]
