"""Hostile and broken images: refused before they are accepted (422 corrupt or truncated, 413 too many
pixels, from the header before any pixel is decoded), decoded off the event loop in a bounded pool."""

from __future__ import annotations

import asyncio
import io
import random
import struct
import subprocess
import sys
import threading
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from anpr.v1 import frame_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.problems import Problem
from anpr_core.testing import read_topic
from anpr_ingest.adapters.images import ImageChecker, decode_check
from anpr_ingest.bootstrap import build_app
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.images import ImageInfo, check_jpeg_structure, sniff_image
from anpr_ingest.domain.intake import CropLimits, FrameLimits, check_crop, check_frame
from anpr_ingest.settings import IngestSettings

NOW = datetime.now(UTC)
LIMITS = FrameLimits(
    max_bytes=4 * 1024 * 1024, min_side=64, max_side=8192, max_clock_skew=timedelta(seconds=300)
)
MAX_PIXELS = LIMITS.max_pixels


def photo_jpeg(width: int = 640, height: int = 480, **options: object) -> bytes:
    """A JPEG with texture, so its scan is long enough to damage in the middle."""
    size = (width // 4, height // 4)
    noise = Image.frombytes("RGB", size, random.Random(3).randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    noise.resize((width, height)).save(buffer, format="JPEG", quality=85, **options)
    return buffer.getvalue()


JPEG = photo_jpeg()


def scan_start(data: bytes) -> int:
    position = data.find(b"\xff\xda")
    assert position > 0
    return position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")


def with_garbage(data: bytes) -> bytes:
    """The outside test's corrupt JPEG: sound headers and end marker, so the header checks pass, with
    random bytes where part of the picture was. A decoder only warns about it and paints grey."""
    start = scan_start(data)
    return data[: start + 500] + random.Random(1).randbytes(2000) + data[start + 2500 :]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *, depth: int = 8, colour: int = 2, level: int = 6) -> bytes:
    """A PNG written by hand (Pillow writes no 16-bit RGBA): rows of zeros, any declared size, so a
    file of a few hundred kilobytes can declare gigabytes of pixels."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" + bytes(width * channels * depth // 8)
    compressor = zlib.compressobj(level)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


@cache
def bomb() -> bytes:
    """The decompression bomb of the outside test: about 520 KB, declaring 8192x8192 16-bit RGBA
    (512 MiB of pixels as decoded, 200 MiB even as 8-bit BGR)."""
    return png(8192, 8192, depth=16, colour=6, level=9)


def refusal(data: bytes, info: ImageInfo | None = None, max_pixels: int = MAX_PIXELS) -> RejectedFrame:
    with pytest.raises(RejectedFrame) as caught:
        decode_check(data, info or sniff_image(data), max_pixels)
    return caught.value


# --- from the header: too many pixels ------------------------------------------------------------


def test_a_bomb_is_refused_413_from_its_header_before_anything_is_decoded() -> None:
    data = bomb()
    assert len(data) < 1024 * 1024
    assert sniff_image(data) == ImageInfo("image/png", 8192, 8192)
    with pytest.raises(RejectedFrame) as caught:
        check_frame(data, NOW, NOW, LIMITS)  # the sides pass (8192 <= max_side): the pixels do not
    assert (caught.value.status, caught.value.reason) == (413, "too_many_pixels")
    assert "8192x8192" in str(caught.value) and "ANPR_MAX_IMAGE_PIXELS" in str(caught.value)


def test_the_decoder_refuses_a_bomb_too_and_its_memory_stays_flat(tmp_path: Path) -> None:
    """decode_check, handed a bomb directly, reads Pillow's header and refuses it: a fresh process that
    does so grows by far less than the 512 MiB decoding would take."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb())
    program = f"""
import resource, sys
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.images import ImageInfo
from anpr_ingest.adapters.images import decode_check
data = open({str(path)!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    decode_check(data, ImageInfo("image/png", 64, 64), {MAX_PIXELS})  # a lying header check: Pillow's counts
except RejectedFrame as refused:
    print(refused.status, refused.reason)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
    result = subprocess.run(  # noqa: S603 - this interpreter, our own program
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    refused, grown_mib = result.stdout.split("\n")[:2]
    assert refused == "413 too_many_pixels"
    assert int(grown_mib) < 32, f"decoding the bomb took {grown_mib} MiB"


def test_a_crop_over_the_pixel_maximum_is_refused_413() -> None:
    crop = photo_jpeg(320, 80)
    limits = CropLimits(max_bytes=512 * 1024, min_side=8, max_side=2048, max_pixels=320 * 80 - 1)
    with pytest.raises(RejectedFrame) as caught:
        check_crop(crop, limits)
    assert (caught.value.status, caught.value.reason) == (413, "too_many_pixels")


# --- decoding: corrupt and truncated data ---------------------------------------------------------


def test_a_sound_jpeg_and_a_progressive_one_decode() -> None:
    decode_check(JPEG, sniff_image(JPEG), MAX_PIXELS)
    progressive = photo_jpeg(800, 600, progressive=True)
    decode_check(progressive, sniff_image(progressive), MAX_PIXELS)


def test_a_16_bit_rgba_png_within_the_limits_is_accepted() -> None:
    data = png(640, 480, depth=16, colour=6)
    info = check_frame(data, NOW, NOW, LIMITS)
    assert info == ImageInfo("image/png", 640, 480)
    decode_check(data, info, MAX_PIXELS)


def test_a_jpeg_with_garbage_in_its_compressed_data_is_corrupt() -> None:
    corrupt = with_garbage(JPEG)
    assert check_frame(corrupt, NOW, NOW, LIMITS).width == 640  # the header alone passes it
    refused = refusal(corrupt)
    assert (refused.status, refused.reason) == (422, "corrupt_image")


def test_a_jpeg_whose_compressed_data_the_decoder_cannot_follow_is_corrupt() -> None:
    damaged = bytearray(JPEG)
    for position in range(scan_start(JPEG) + 100, len(damaged) - 2, 997):
        damaged[position] ^= 0x55
    refused = refusal(bytes(damaged))
    assert (refused.status, refused.reason) == (422, "corrupt_image")


def test_a_jpeg_with_a_broken_table_is_corrupt() -> None:
    table = JPEG.find(b"\xff\xc4")
    broken = JPEG[: table + 5] + b"\xff" * 30 + JPEG[table + 35 :]
    refused = refusal(broken, ImageInfo("image/jpeg", 640, 480))
    assert (refused.status, refused.reason) == (422, "corrupt_image")


def test_a_jpeg_cut_off_in_its_scan_is_truncated() -> None:
    cut = JPEG[: scan_start(JPEG) + 3000]
    refused = refusal(cut, ImageInfo("image/jpeg", 640, 480))
    assert (refused.status, refused.reason) == (422, "truncated_image")


def test_a_truncated_png_is_refused() -> None:
    data = png(320, 240)
    idat = data.find(b"IDAT")
    cut_with_end = data[: idat + 4 + 40] + _chunk(b"IEND", b"")  # its IEND still there: the header passes
    assert sniff_image(cut_with_end) == ImageInfo("image/png", 320, 240)
    for broken in (cut_with_end, data[: len(data) // 2]):
        refused = refusal(broken, ImageInfo("image/png", 320, 240))
        assert refused.status == 422
        assert refused.reason in {"truncated_image", "corrupt_image"}


def test_a_png_whose_data_fails_its_crc_is_corrupt() -> None:
    data = bytearray(png(320, 240))
    data[data.find(b"IDAT") + 10] ^= 0xFF
    refused = refusal(bytes(data))
    assert (refused.status, refused.reason) == (422, "corrupt_image")


def test_the_jpeg_walk_refuses_an_unknown_marker_and_a_scan_before_the_frame_header() -> None:
    start = scan_start(JPEG)
    with pytest.raises(RejectedFrame, match="unexpected marker 0x05"):
        check_jpeg_structure(JPEG[: start + 10] + b"\xff\x05" + JPEG[start + 12 :])
    sos = JPEG.find(b"\xff\xda")
    sof = JPEG.find(b"\xff\xc0")
    no_frame = JPEG[:sof] + JPEG[sos:]
    with pytest.raises(RejectedFrame, match="scan before its frame header"):
        check_jpeg_structure(no_frame)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_jpegs_are_refused_with_a_4xx_or_decode_never_a_crash(data: st.DataObject) -> None:
    damaged = bytearray(JPEG)
    for _ in range(data.draw(st.integers(1, 6))):
        damaged[data.draw(st.integers(2, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    blob = bytes(damaged[: data.draw(st.integers(2, len(damaged)))])
    try:
        decode_check(blob, ImageInfo("image/jpeg", 640, 480), MAX_PIXELS)
    except RejectedFrame as refused:
        assert 400 <= refused.status < 500


# --- the pool -----------------------------------------------------------------------------------


async def test_images_are_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    checker = ImageChecker(workers=2, queue=4, max_pixels=MAX_PIXELS)
    original = Image.Image.load

    def spying_load(image: Image.Image) -> object:
        threads.append(threading.current_thread().name)
        return original(image)

    monkeypatch.setattr(Image.Image, "load", spying_load)
    try:
        await checker.verify(JPEG, sniff_image(JPEG))
    finally:
        checker.close()
    assert threads and all(name.startswith("image-check") for name in threads)
    assert threading.main_thread().name not in threads


async def test_a_full_pool_answers_503_with_retry_after_instead_of_queueing_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = threading.Event()
    checker = ImageChecker(workers=1, queue=1, max_pixels=MAX_PIXELS)
    original = Image.Image.load

    def held_load(image: Image.Image) -> object:
        gate.wait(10)
        return original(image)

    monkeypatch.setattr(Image.Image, "load", held_load)
    try:
        # One decoding (held), one waiting: the pool and its queue are full.
        running = [asyncio.ensure_future(checker.verify(JPEG, sniff_image(JPEG))) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Problem) as full:
            await checker.verify(JPEG, sniff_image(JPEG))
        gate.set()
        await asyncio.gather(*running)
        await checker.verify(JPEG, sniff_image(JPEG))  # room again once they are done
    finally:
        gate.set()
        checker.close()
    assert full.value.status == 503
    assert int(full.value.headers["Retry-After"]) > 0


async def test_the_header_setting_skips_decoding() -> None:
    corrupt = with_garbage(JPEG)
    checker = ImageChecker(workers=1, queue=0, max_pixels=MAX_PIXELS, check="header")
    try:
        await checker.verify(corrupt, sniff_image(corrupt))  # accepted: the baseline decodes nothing
    finally:
        checker.close()


# --- over HTTP: refused with problem+json, nothing published -------------------------------------

TOPICS = Topics()


@dataclass
class Ingest:
    client: httpx.AsyncClient
    bus: MemoryBus
    keys: dict[str, str]

    async def frame(self, image: bytes, *, raw: bool = False) -> httpx.Response:
        captured_at = datetime.now(UTC).isoformat()
        if raw:  # the raw-body fast path
            headers = {
                "X-Camera-Key": self.keys["cam-1"],
                "X-Camera-Id": "cam-1",
                "X-Captured-At": captured_at,
                "Content-Type": "image/png" if image.startswith(b"\x89PNG") else "image/jpeg",
            }
            return await self.client.post("/v1/frames", headers=headers, content=image)
        return await self.client.post(
            "/v1/frames",
            headers={"X-Camera-Key": self.keys["cam-1"]},
            data={"camera_id": "cam-1", "captured_at": captured_at},
            files={"image": ("frame", image, "application/octet-stream")},
        )

    async def read(self, crop: bytes) -> httpx.Response:
        return await self.client.post(
            "/v1/reads",
            headers={"X-Camera-Key": self.keys["cam-smart"]},
            data={
                "camera_id": "cam-smart",
                "captured_at": datetime.now(UTC).isoformat(),
                "text": "1ABC234",
                "confidence": "0.9",
            },
            files={"crop": ("crop.jpg", crop, "image/jpeg")},
        )

    async def published(self) -> tuple[list[frame_pb2.Frame], list[read_pb2.PlateRead]]:
        frames = [frame_pb2.Frame.FromString(r.value) for r in await read_topic(self.bus, TOPICS.frames)]
        reads = [read_pb2.PlateRead.FromString(r.value) for r in await read_topic(self.bus, TOPICS.reads)]
        return frames, reads


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@asynccontextmanager
async def running(tmp_path: Path, **settings: Any) -> AsyncIterator[Ingest]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(IngestSettings(data_dir=tmp_path, **settings), bus, engine, issuer)
    admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            keys = {}
            for camera_id, kind in (("cam-1", "frame"), ("cam-smart", "smart")):
                created = await client.post(
                    "/v1/cameras",
                    json={"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": kind},
                    headers=admin,
                )
                keys[camera_id] = created.json()["api_key"]
            yield Ingest(client, bus, keys)
    finally:
        await engine.dispose()


def assert_refused(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"] == f"urn:schild:frame:{reason}"
    assert problem["detail"]


@pytest.mark.parametrize("raw", [False, True], ids=["multipart", "raw-body"])
async def test_hostile_frames_are_refused_before_202_and_never_reach_the_broker(
    tmp_path: Path, raw: bool
) -> None:
    truncated_png = png(320, 240)
    idat = truncated_png.find(b"IDAT")
    truncated_png = truncated_png[: idat + 44] + _chunk(b"IEND", b"")
    async with running(tmp_path) as ingest:
        assert_refused(await ingest.frame(with_garbage(JPEG), raw=raw), 422, "corrupt_image")
        refused = await ingest.frame(truncated_png, raw=raw)
        assert refused.status_code == 422
        assert refused.json()["type"] in {
            "urn:schild:frame:truncated_image",
            "urn:schild:frame:corrupt_image",
        }
        bombed = await ingest.frame(bomb(), raw=raw)
        assert_refused(bombed, 413, "too_many_pixels")
        assert "8192x8192" in bombed.json()["detail"]
        assert await ingest.published() == ([], [])
        # What is sound goes through: a 16-bit RGBA PNG within the limits, a JPEG.
        for sound in (png(640, 480, depth=16, colour=6), JPEG):
            accepted = await ingest.frame(sound, raw=raw)
            assert accepted.status_code == 202, accepted.text
        frames, _ = await ingest.published()
        assert [(f.content_type, f.width) for f in frames] == [("image/png", 640), ("image/jpeg", 640)]


async def test_hostile_crops_of_camera_reads_are_refused_too(tmp_path: Path) -> None:
    crop = photo_jpeg(320, 80)
    async with running(tmp_path, max_image_pixels=320 * 80 - 1) as ingest:
        assert_refused(await ingest.read(with_garbage(photo_jpeg(160, 120))), 422, "corrupt_image")
        assert_refused(await ingest.read(crop), 413, "too_many_pixels")
        assert await ingest.published() == ([], [])
    async with running(tmp_path / "roomier") as ingest:
        assert (await ingest.read(crop)).status_code == 202
        _, reads = await ingest.published()
        assert [r.plate_crop for r in reads] == [crop]


async def test_the_header_setting_accepts_what_only_decoding_refuses(tmp_path: Path) -> None:
    """The bench's baseline (ANPR_IMAGE_CHECK=header): the corrupt JPEG gets through, the bomb does not."""
    async with running(tmp_path, image_check="header") as ingest:
        assert (await ingest.frame(with_garbage(JPEG))).status_code == 202
        assert_refused(await ingest.frame(bomb()), 413, "too_many_pixels")
