"""Image bytes to pixels: JPEG/PNG decoded to BGR, with the pixel count bounded from the header."""

from __future__ import annotations

import io

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from anpr_detect.domain.limits import DEFAULT_MAX_IMAGE_PIXELS

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "ImageTooLarge", "NotAnImage", "decode_image", "image_size"]


class ImageTooLarge(ValueError):
    """The image declares more pixels than are decoded; refused from its header, before decoding."""


class NotAnImage(ValueError):
    """The bytes are no JPEG or PNG that decodes."""


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's or PNG's header alone (nothing is decoded)."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise NotAnImage("not a decodable JPEG/PNG image") from error
    return width, height


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> npt.NDArray[np.uint8]:
    """Decode JPEG/PNG bytes into a BGR uint8 image. An image that declares more than `max_pixels`
    pixels is refused (ImageTooLarge) from its header, so a decompression bomb (a few hundred
    kilobytes declaring 8192x8192 16-bit RGBA) never gets its gigabyte allocated."""
    if not data:
        raise NotAnImage("not a decodable JPEG/PNG image")
    width, height = image_size(data)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image declares {width}x{height} = {width * height} pixels; at most {max_pixels} "
            "are decoded (ANPR_MAX_IMAGE_PIXELS)"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise NotAnImage("not a decodable JPEG/PNG image") from error
    if image is None or image.size == 0:
        raise NotAnImage("not a decodable JPEG/PNG image")
    return np.ascontiguousarray(image, dtype=np.uint8)
