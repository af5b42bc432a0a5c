"""Detect's work, one named function per command and event, its ports passed in."""

from __future__ import annotations

import time
from dataclasses import dataclass

from anpr_detect.adapters.frame_reader import ReaderSlot
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.plate_reading import DetectedPlate

__all__ = ["ImageReading", "ReadPorts", "read_image"]


@dataclass(frozen=True)
class ReadPorts:
    """What reading one uploaded image needs: the readers, and how much an upload may be."""

    reader: ReaderSlot
    max_upload_bytes: int
    max_image_pixels: int


@dataclass(frozen=True)
class ImageReading:
    plates: list[DetectedPlate]
    ms: float  # reading time, decoding left out


async def read_image(data: bytes, ports: ReadPorts) -> ImageReading:
    """The plates of one image, as the frames consumer would read them.

    Raises ImageTooLarge (from the header, before decoding), NotAnImage, or ReaderLoading while the
    models load.
    """
    decoded = decode_image(data, ports.max_image_pixels)
    started = time.perf_counter()
    plates = await ports.reader.get().read(decoded)
    return ImageReading(plates, round((time.perf_counter() - started) * 1000, 1))
