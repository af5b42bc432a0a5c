"""The offline reader reads the synthetic plates back exactly, where they were pasted."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.plate_detector import MODEL_PATH, OnnxPlateDetector
from anpr_detect.adapters.plate_reading import DetectedPlate, PlateReader
from anpr_detect.adapters.readers import READER_KINDS, ReaderKind, build_reader
from anpr_detect.domain.grammar import interpret
from anpr_detect_training import synthetic
from anpr_detect_training.synthetic import render_plate, render_scene, render_scene_with_box, sample_frames

_READERS: dict[ReaderKind, PlateReader] = {}


@pytest.fixture(scope="module", params=["detector", "text"])
def reader(request: pytest.FixtureRequest) -> PlateReader:
    """Every test runs on the service's reader (the detector's) and on the whole-frame text reader."""
    kind: ReaderKind = request.param
    if kind not in _READERS:
        _READERS[kind] = build_reader(kind, threads=2)
    return _READERS[kind]


def test_models_load_without_any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a model tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for kind in READER_KINDS:
        assert build_reader(kind, threads=1) is not None
    assert MODEL_PATH.is_file() and MODEL_PATH.stat().st_size < 20_000_000
    assert OnnxPlateDetector(threads=1).providers[-1] == "CPUExecutionProvider"


def assert_reads(
    reader: PlateReader, image: bytes, plate: str, box: tuple[int, int, int, int]
) -> DetectedPlate:
    plates = reader.read(decode_image(image))
    assert plates, f"no plate read for {plate}"
    best = plates[0]
    assert best.text == plate, f"read {best.text!r} ({best.candidates}) for {plate!r}"
    assert best.valid
    centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x1, y1, x2, y2 = best.bbox
    assert x1 <= centre_x <= x2 and y1 <= centre_y <= y2, f"bbox {best.bbox} misses the plate {box}"
    assert best.candidates, "the raw reading is missing"
    assert 0.0 < best.confidence <= 1.0
    return best


def test_sample_frames_are_distinct_belgian_plates_and_deterministic() -> None:
    frames = sample_frames()
    assert len(frames) >= 6
    assert frames[0].plate == "1ABC234"
    assert len({frame.plate for frame in frames}) == len(frames)
    for frame in frames:
        interpretation = interpret([(frame.plate, 1.0)])
        assert interpretation is not None and interpretation.country == "BE" and interpretation.valid
        assert frame.image[:2] == b"\xff\xd8"  # JPEG
        assert decode_image(frame.image).shape == (frame.height, frame.width, 3)
    assert [frame.image for frame in sample_frames()] == [frame.image for frame in frames]


@pytest.mark.parametrize("index", range(len(sample_frames())))
def test_reader_reads_every_sample_frame(reader: PlateReader, index: int) -> None:
    frame = sample_frames()[index]
    # The sample frames are render_scene at fixed seeds; re-rendering gives the pasted box.
    image, box = render_scene_with_box(frame.plate, seed=synthetic._SAMPLE_SEED_BASE + index)
    assert image == frame.image
    assert_reads(reader, frame.image, frame.plate, box)


@pytest.mark.parametrize(
    ("plate", "country", "seed"),
    [
        ("GB12TX", "NL", 11),
        ("12BDF3", "NL", 12),
        ("AB123CD", "FR", 13),
        ("FG456HJ", "FR", 14),
        ("AB1234", "LU", 15),
    ],
)
def test_reader_reads_neighbouring_countries(
    reader: PlateReader, plate: str, country: str, seed: int
) -> None:
    image, box = render_scene_with_box(plate, seed=seed, country=country)
    assert assert_reads(reader, image, plate, box).country == country


@pytest.fixture
def without_font_file(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(synthetic, "PLATE_FONT_PATH", Path("/nonexistent/plate-font.ttf"))
    yield


@pytest.mark.usefixtures("without_font_file")
def test_reader_reads_plates_in_the_fallback_font(reader: PlateReader) -> None:
    image, box = render_scene_with_box("2XYZ789", seed=21)
    assert_reads(reader, image, "2XYZ789", box)


def test_render_scene_is_deterministic_and_fully_shows_the_plate() -> None:
    for seed in range(5):
        image, (x1, y1, x2, y2) = render_scene_with_box("1ABC234", seed=seed)
        assert image == render_scene("1ABC234", seed=seed)
        assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720
        assert 160 <= x2 - x1 <= 320
    assert render_scene("1ABC234", seed=1) != render_scene("1ABC234", seed=2)


def test_belgian_plate_colours() -> None:
    plate = np.asarray(render_plate("1ABC234").convert("RGB")).reshape(-1, 3).astype(int)
    # White ground, rubine red characters, EU blue band.
    assert (np.abs(plate - [255, 255, 255]).sum(axis=1) < 30).mean() > 0.4
    assert (np.abs(plate - [166, 25, 46]).sum(axis=1) < 30).mean() > 0.1
    assert (np.abs(plate - [0, 51, 153]).sum(axis=1) < 30).mean() > 0.03


def test_a_scene_without_text_has_no_plates(reader: PlateReader) -> None:
    rng = np.random.default_rng(7)
    noise = rng.integers(90, 110, (720, 1280, 3), dtype=np.uint8)
    assert reader.read(noise) == []


def test_reader_rejects_a_non_bgr_array(reader: PlateReader) -> None:
    with pytest.raises(ValueError, match="BGR"):
        reader.read(np.zeros((10, 10), dtype=np.uint8))


@pytest.mark.parametrize(
    "garbage", [b"", b"not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 64, bytes(range(256))]
)
def test_decode_image_rejects_garbage(garbage: bytes) -> None:
    with pytest.raises(ValueError, match="not a decodable JPEG/PNG image"):
        decode_image(garbage)
