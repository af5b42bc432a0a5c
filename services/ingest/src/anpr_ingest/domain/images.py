"""What an acceptable image is, read from its bytes: type, size, pixels, and a JPEG's structure. No I/O."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from anpr_ingest.domain.errors import RejectedFrame


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The IEND chunk: zero length, type, and its fixed CRC.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG start-of-frame markers that carry the dimensions (baseline, progressive, ...).
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers of the segments a JPEG may hold after its start-of-image: frame headers, Huffman and
# quantisation tables (DHT, DAC, DQT), scans (SOS), DNL, restart intervals (DRI), expansion (DHP,
# EXP), application data (APPn) and comments. Any other marker there is corruption.
_SEGMENT_MARKERS = frozenset(
    {*_SOF_MARKERS, 0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, *range(0xE0, 0xF0), 0xFE}
)
# In a scan's compressed data a 0xFF byte is followed by 0x00 (a stuffed byte) or a restart marker
# (0xD0-0xD7); fill bytes (0xFF) may precede a marker. Anything else is the marker that ends the scan.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def sniff_image(data: bytes) -> ImageInfo:
    """Establishes the type and size of an image from its bytes, never from its name."""
    # Some cameras pad their files with zeros; the end marker must still be there.
    body = data.rstrip(b"\x00")
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise RejectedFrame("corrupt_image", "PNG without a valid IHDR header")
        if not body.endswith(_PNG_END):
            raise RejectedFrame("truncated_image", "the PNG is cut off: it has no IEND chunk")
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("image/png", width, height)
    if data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
        if not body.endswith(b"\xff\xd9"):
            raise RejectedFrame("truncated_image", "the JPEG is cut off: it has no end-of-image marker")
        return ImageInfo("image/jpeg", width, height)
    raise RejectedFrame("not_an_image", "the bytes are neither a JPEG nor a PNG image", status=415)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise RejectedFrame("corrupt_image", "JPEG marker structure is broken")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _SOF_MARKERS:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    raise RejectedFrame("corrupt_image", "JPEG without a frame header (truncated or corrupt)")


def check_jpeg_structure(data: bytes) -> None:
    """Walks every segment of a JPEG, the compressed data of its scans included, to its end-of-image
    marker. Garbage in the compressed data, which a decoder only warns about (and paints grey), or a
    segment running past the end, is refused. Bytes after the end-of-image marker are left alone, as
    decoders leave them (sniff_image has checked that the file ends with one)."""
    body = data.rstrip(b"\x00")
    end = len(body)
    position = 2
    frame_seen = scan_seen = False
    while position + 2 <= end:
        if body[position] != 0xFF:
            raise RejectedFrame("corrupt_image", f"the JPEG is corrupt: no marker at byte {position}")
        marker = body[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:
            if not scan_seen:
                raise RejectedFrame("corrupt_image", "the JPEG is corrupt: it holds no image data (no scan)")
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            position += 2
            continue
        if marker not in _SEGMENT_MARKERS:
            raise RejectedFrame(
                "corrupt_image", f"the JPEG is corrupt: unexpected marker 0x{marker:02X} at byte {position}"
            )
        if position + 4 > end:
            break
        (length,) = struct.unpack(">H", body[position + 2 : position + 4])
        if length < 2 or position + 2 + length > end:
            raise RejectedFrame(
                "corrupt_image", f"the JPEG is corrupt: the segment at byte {position} runs past the end"
            )
        position += 2 + length
        if marker in _SOF_MARKERS:
            frame_seen = True
        elif marker == 0xDA:
            if not frame_seen:
                raise RejectedFrame("corrupt_image", "the JPEG is corrupt: a scan before its frame header")
            scan_seen = True
            scan_end = _END_OF_SCAN.search(body, position)
            if scan_end is None:
                break
            position = scan_end.start()
    raise RejectedFrame("truncated_image", "the JPEG is cut off before its end-of-image marker")


# What ANPR cameras send (2 to 12 megapixels) with room to spare; decoding more costs memory that
# a hostile file can ask for with a few hundred bytes (a PNG that declares 8192x8192 pixels).
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096


def check_pixels(info: ImageInfo, max_pixels: int, what: str = "image") -> None:
    """Refuses, from the header alone (before anything is decoded), an image of more pixels than allowed."""
    if info.width * info.height > max_pixels:
        raise RejectedFrame(
            "too_many_pixels",
            f"the {what} declares {info.width}x{info.height} = {info.width * info.height} pixels; "
            f"at most {max_pixels} are decoded (ANPR_MAX_IMAGE_PIXELS)",
            status=413,
        )
