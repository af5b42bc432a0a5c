"""Images decoded before they are accepted, off the event loop, in a bounded pool of worker threads.

The header checks (anpr_ingest.domain.intake.check_frame / check_crop) have already refused what is too
large, has too many pixels, or is not a JPEG or PNG; nothing here allocates more than the pixel
maximum allows. A JPEG's marker structure is walked and every compressed block is decoded (at 1/8
scale: the entropy-coded data, where corruption shows, is read in full; only the inverse DCT is
cut short). A PNG's chunks are checked against their CRCs, then its pixels are decompressed.
Pillow releases the GIL while it decodes, so the threads run beside the event loop.
"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from PIL import Image

from anpr_core.problems import Problem
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.images import ImageInfo, check_jpeg_structure, check_pixels

ImageCheck = Literal["decode", "header"]


def decode_check(data: bytes, info: ImageInfo, max_pixels: int, what: str = "image") -> None:
    """Raises RejectedFrame (422 corrupt or truncated, 413 too many pixels) unless `data` decodes."""
    if info.content_type == "image/jpeg":
        check_jpeg_structure(data)
    kind = "JPEG" if info.content_type == "image/jpeg" else "PNG"
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            # Pillow's own reading of the header, checked again before a pixel is decoded.
            check_pixels(ImageInfo(info.content_type, *image.size), max_pixels, what)
            if kind == "PNG":
                image.verify()  # every chunk's CRC; the object cannot decode after verify()
            else:
                # Every block's entropy-coded data is still decoded; only the luma DC is transformed.
                image.draft("L", ((image.width + 7) // 8, (image.height + 7) // 8))
                image.load()
        if kind == "PNG":
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                image.load()
    except RejectedFrame:
        raise
    except Exception as error:  # noqa: BLE001 - whatever the decoder refuses, the camera is told why
        cut = isinstance(error, OSError) and "truncated" in str(error)
        raise RejectedFrame(
            "truncated_image" if cut else "corrupt_image",
            f"the {what} cannot be decoded as a {kind}: {error}",
        ) from error


class ImageChecker:
    """At most `workers` images decode at once; at most `queue` more wait for a worker, and past
    that an intake is answered 503 with Retry-After (ingest is saturated) instead of piling up.

    `check="header"` skips the decoding (the header checks alone, as before images were decoded):
    for the bench's baseline, or where a trusted gateway in front of ingest decodes already.
    """

    def __init__(self, *, workers: int, queue: int, max_pixels: int, check: ImageCheck = "decode") -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="image-check")
        self._capacity = workers + queue
        self._in_flight = 0
        self._max_pixels = max_pixels
        self._check = check

    async def verify(self, data: bytes, info: ImageInfo, what: str = "image") -> None:
        """Raises RejectedFrame when the image does not decode, Problem 503 when the pool is full."""
        if self._check == "header":
            return
        if self._in_flight >= self._capacity:
            raise Problem(
                503,
                "Service Unavailable",
                f"{self._in_flight} images are waiting to be checked; send it again after Retry-After",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        loop = asyncio.get_running_loop()
        job = self._executor.submit(decode_check, data, info, self._max_pixels, what)
        # The slot is given back when the job ends (or is cancelled before it starts), not when a
        # request that went away stops waiting for it: the bound holds for work really queued.
        job.add_done_callback(lambda _job: loop.is_closed() or loop.call_soon_threadsafe(self._release))
        await asyncio.wrap_future(job)

    def _release(self) -> None:
        self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
