"""Detect's memory stays bounded whatever reaches the frames topic: a frame declaring more pixels than
ANPR_MAX_IMAGE_PIXELS is refused from its header (never decoded) and dead-lettered with the reason,
while the frames around it are read as usual."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from anpr.v1 import dlq_pb2, frame_pb2, read_pb2
from anpr_core.auth import DevIssuer
from anpr_core.bus import MemoryBus
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_detect.adapters.images import DEFAULT_MAX_IMAGE_PIXELS, ImageTooLarge, decode_image
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.bootstrap import build_app
from anpr_detect.settings import DetectSettings


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, depth: int = 8, colour: int = 2, level: int = 6) -> bytes:
    """A PNG of zero rows, written by hand (any declared size, 16-bit RGBA included)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" + bytes(width * channels * depth // 8)
    compressor = zlib.compressobj(level)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


@cache
def bomb() -> bytes:
    """About 520 KB declaring 8192x8192 16-bit RGBA: the outside test's bomb (six took detect from
    350 MB to 1.9 GB). OpenCV decodes it fully: 512 MiB, then 192 MiB of BGR."""
    return png(8192, 8192, depth=16, colour=6, level=9)


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def test_a_bomb_is_refused_from_its_header_and_the_process_does_not_grow(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb())
    assert path.stat().st_size < 1024 * 1024
    program = f"""
import resource
from anpr_detect.adapters.images import decode_image, ImageTooLarge
data = open({str(path)!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    decode_image(data)
except ImageTooLarge as refused:
    print("refused:", refused)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    result = subprocess.run(  # noqa: S603 - this interpreter, our own program
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    refused, grown_mib = result.stdout.strip().split("\n")[-2:]
    assert refused.startswith("refused:") and "8192x8192" in refused
    assert int(grown_mib) < 32, f"decoding the bomb took {grown_mib} MiB"


def test_the_limit_is_the_setting_and_what_is_within_it_decodes() -> None:
    sixteen_bit = png(640, 480, depth=16, colour=6)
    image = decode_image(sixteen_bit)
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    with pytest.raises(ImageTooLarge, match="640x480"):
        decode_image(sixteen_bit, max_pixels=640 * 480 - 1)
    assert DetectSettings().max_image_pixels == DEFAULT_MAX_IMAGE_PIXELS
    assert DetectSettings(max_image_pixels=10_000).max_image_pixels == 10_000


def test_what_is_neither_jpeg_nor_png_is_not_decoded() -> None:
    ok, bmp = cv2.imencode(".bmp", np.zeros((64, 64, 3), np.uint8))
    assert ok
    with pytest.raises(ValueError, match="not a decodable JPEG/PNG image"):
        decode_image(bmp.tobytes())


class SizeRecordingReader:
    """Reads one plate in every frame, and records the size of every image it is given."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        self.shapes.append(image.shape)
        return [DetectedPlate("1ABC234", "1-ABC-234", "BE", True, 0.9, (1, 1, 6, 6), (("1ABC234", 0.9),))]


def frame(camera: str, image: bytes) -> frame_pb2.Frame:
    return frame_pb2.Frame(
        meta=new_meta("zone-1", "ingest"),
        camera_id=camera,
        captured_at=to_timestamp(datetime.now(UTC)),
        content_type="image/png",
        image=image,
    )


async def test_the_consumer_dead_letters_a_bomb_without_decoding_it_and_reads_the_rest(
    tmp_path: Path,
) -> None:
    bus = MemoryBus()
    topics = Topics()
    reader = SizeRecordingReader()
    settings = DetectSettings(data_dir=tmp_path, zone_id="zone-1", max_inflight=1)
    app = build_app(settings, bus, None, DevIssuer(tmp_path / "key.pem"), reader_factory=lambda _: reader)
    ok, small = cv2.imencode(".png", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    hostile = frame("cam-1", bomb())
    sound = [frame("cam-1", small.tobytes()), frame("cam-2", small.tobytes())]
    async with app.router.lifespan_context(app):
        for item in (sound[0], hostile, sound[1]):  # the bomb in the middle of one polled batch
            await bus.publish(topics.frames, item.camera_id.encode(), item.SerializeToString())

        async def done() -> bool:
            return (
                len(await read_topic(bus, topics.reads)) >= 2 and len(await read_topic(bus, topics.dlq)) >= 1
            )

        await eventually(done, timeout_s=20)
    letters = [dlq_pb2.DeadLetter.FromString(r.value) for r in await read_topic(bus, topics.dlq)]
    assert len(letters) == 1
    assert hostile.meta.event_id in letters[0].reason
    assert "8192x8192" in letters[0].reason and "ANPR_MAX_IMAGE_PIXELS" in letters[0].reason
    reads = [read_pb2.PlateRead.FromString(r.value) for r in await read_topic(bus, topics.reads)]
    assert sorted(r.frame_event_id for r in reads) == sorted(f.meta.event_id for f in sound)
    assert reader.shapes and set(reader.shapes) == {(48, 64, 3)}  # the bomb never reached a reader
