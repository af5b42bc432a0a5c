"""Ingest's frame rules: image sniffing from bytes, size limits, clock skew, camera keys."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anpr_ingest.domain.cameras import hash_api_key, key_matches, new_api_key
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.images import ImageInfo, sniff_image
from anpr_ingest.domain.intake import FrameLimits, check_frame

NOW = datetime(2026, 11, 28, 20, 15, tzinfo=UTC)
LIMITS = FrameLimits(max_bytes=512 * 1024, min_side=64, max_side=4096, max_clock_skew=timedelta(seconds=300))


def image_bytes(fmt: str, width: int, height: int, **options: object) -> bytes:
    picture = Image.new("RGB", (width, height), (40, 90, 160))
    # Some texture so the encoder produces a realistic scan.
    for x in range(0, width, 7):
        picture.putpixel((x, (x * 3) % height), (250, 250, 250))
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


JPEG = image_bytes("JPEG", 640, 480, quality=85)
PNG = image_bytes("PNG", 320, 200)


def rejection(data: bytes, captured_at: datetime = NOW, limits: FrameLimits = LIMITS) -> RejectedFrame:
    with pytest.raises(RejectedFrame) as caught:
        check_frame(data, captured_at, NOW, limits)
    return caught.value


# --- sniffing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (JPEG, ImageInfo("image/jpeg", 640, 480)),
        (image_bytes("JPEG", 1280, 720, progressive=True), ImageInfo("image/jpeg", 1280, 720)),
        (image_bytes("JPEG", 97, 333), ImageInfo("image/jpeg", 97, 333)),
        (PNG, ImageInfo("image/png", 320, 200)),
        (image_bytes("PNG", 1, 4097), ImageInfo("image/png", 1, 4097)),
    ],
)
def test_sniff_reads_type_and_dimensions_from_real_images(data: bytes, expected: ImageInfo) -> None:
    assert sniff_image(data) == expected


def test_sniff_reads_jpeg_with_exif_before_the_frame_header() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker " * 50  # a sizeable APP1 segment before SOF
    data = image_bytes("JPEG", 200, 150, exif=exif.tobytes())
    assert b"\xff\xe1" in data[: _sof_position(data)]
    assert sniff_image(data) == ImageInfo("image/jpeg", 200, 150)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 100,
        b"%PDF-1.7\n",
        b'{"camera_id": "cam-1"}',
        b"\x00" * 64,
        b"",
        image_bytes("BMP", 100, 100),
    ],
)
def test_sniff_rejects_what_is_neither_jpeg_nor_png_with_415(data: bytes) -> None:
    with pytest.raises(RejectedFrame) as caught:
        sniff_image(data)
    assert caught.value.status == 415
    assert caught.value.reason == "not_an_image"


def _sof_position(data: bytes) -> int:
    position = data.find(b"\xff\xc0")
    assert position > 0
    return position


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(lambda d: d[:2], id="only-soi"),
        pytest.param(lambda d: d[:20], id="inside-app0"),
        pytest.param(lambda d: d[: _sof_position(d)], id="before-sof"),
        pytest.param(lambda d: d[: _sof_position(d) + 6], id="inside-sof"),
    ],
)
def test_jpeg_truncated_before_its_frame_header_is_rejected(cut: Callable[[bytes], bytes]) -> None:
    with pytest.raises(RejectedFrame) as caught:
        sniff_image(cut(JPEG))
    assert caught.value.reason == "corrupt_image"
    assert caught.value.status == 422


def test_jpeg_cut_off_in_its_scan_data_is_rejected() -> None:
    """A half-written frame must be refused at the edge (4xx, the camera resends), not accepted with 202."""
    assert JPEG.endswith(b"\xff\xd9")
    with pytest.raises(RejectedFrame) as caught:
        check_frame(JPEG[: len(JPEG) // 2], NOW, NOW, LIMITS)
    assert caught.value.status < 500


def test_png_without_ihdr_is_rejected() -> None:
    with pytest.raises(RejectedFrame) as caught:
        sniff_image(PNG[:16])
    assert caught.value.reason == "corrupt_image"


def test_jpeg_with_broken_marker_structure_is_rejected() -> None:
    broken = JPEG[:2] + b"\x00\x00" + JPEG[4:]
    with pytest.raises(RejectedFrame) as caught:
        sniff_image(broken)
    assert caught.value.reason == "corrupt_image"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=256),
        st.binary(max_size=256).map(lambda tail: b"\xff\xd8" + tail),
        st.binary(max_size=256).map(lambda tail: b"\x89PNG\r\n\x1a\n" + tail),
        st.lists(st.sampled_from([b"\xff", b"\xc0", b"\xd8", b"\x00", b"\x10", b"\xd0"]), max_size=60).map(
            lambda parts: b"\xff\xd8" + b"".join(parts)
        ),
    )
)
def test_sniff_never_fails_with_anything_but_a_rejection(data: bytes) -> None:
    try:
        info = sniff_image(data)
    except RejectedFrame as rejected:
        assert 400 <= rejected.status < 500
        assert rejected.reason in {"not_an_image", "corrupt_image", "truncated_image"}
    else:
        assert info.content_type in {"image/jpeg", "image/png"}
        assert info.width >= 0 and info.height >= 0


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_corrupted_real_jpeg_headers_never_crash(data: st.DataObject) -> None:
    header = bytearray(JPEG[:400])
    for _ in range(data.draw(st.integers(1, 8))):
        header[data.draw(st.integers(2, len(header) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(2, len(header)))
    with contextlib.suppress(RejectedFrame):
        sniff_image(bytes(header[:cut]))


# --- the whole frame check ----------------------------------------------------------------------


def test_valid_frame_is_accepted() -> None:
    assert check_frame(JPEG, NOW - timedelta(seconds=2), NOW, LIMITS) == ImageInfo("image/jpeg", 640, 480)


def test_empty_frame_is_rejected() -> None:
    assert rejection(b"").reason == "empty"


def test_frame_over_the_size_limit_is_rejected_with_413() -> None:
    refused = rejection(JPEG, limits=replace(LIMITS, max_bytes=len(JPEG) - 1))
    assert (refused.status, refused.reason) == (413, "too_large")
    assert check_frame(JPEG, NOW, NOW, replace(LIMITS, max_bytes=len(JPEG))).width == 640


def test_size_limit_is_checked_before_the_bytes_are_parsed() -> None:
    limits = replace(LIMITS, max_bytes=100)
    assert rejection(b"not an image at all, but long " * 10, limits=limits).status == 413


@pytest.mark.parametrize(("width", "height"), [(63, 480), (640, 63), (4097, 100), (100, 4097)])
def test_frame_with_bad_dimensions_is_rejected(width: int, height: int) -> None:
    refused = rejection(image_bytes("PNG", width, height))
    assert (refused.status, refused.reason) == (422, "bad_dimensions")


@pytest.mark.parametrize(("width", "height"), [(64, 64), (4096, 64)])
def test_frame_at_the_dimension_limits_is_accepted(width: int, height: int) -> None:
    assert check_frame(image_bytes("PNG", width, height), NOW, NOW, LIMITS).width == width


@pytest.mark.parametrize("offset_s", [-301, 301, -86_400 * 30])
def test_frame_with_clock_skew_is_rejected(offset_s: int) -> None:
    refused = rejection(JPEG, captured_at=NOW + timedelta(seconds=offset_s))
    assert (refused.status, refused.reason) == (422, "clock_skew")


@pytest.mark.parametrize("offset_s", [-300, -299, 0, 299, 300])
def test_frame_within_the_allowed_skew_is_accepted(offset_s: int) -> None:
    check_frame(JPEG, NOW + timedelta(seconds=offset_s), NOW, LIMITS)


def test_frame_time_in_another_offset_is_compared_as_the_same_instant() -> None:
    brussels = timezone(timedelta(hours=1))
    check_frame(JPEG, NOW.astimezone(brussels), NOW, LIMITS)
    refused = rejection(JPEG, captured_at=NOW.replace(tzinfo=brussels))  # same wall clock, an hour off
    assert refused.reason == "clock_skew"


def test_naive_capture_time_is_rejected() -> None:
    refused = rejection(JPEG, captured_at=NOW.replace(tzinfo=None))
    assert (refused.status, refused.reason) == (422, "naive_time")


# --- camera keys --------------------------------------------------------------------------------


def test_camera_keys_are_random_and_only_their_hash_matches() -> None:
    key, other = new_api_key(), new_api_key()
    assert key != other
    assert key.startswith("cam_") and len(key) > 40
    stored = hash_api_key(key)
    assert key not in stored
    assert key_matches(key, stored)
    assert not key_matches(other, stored)
    assert not key_matches(key + "x", stored)
