"""Blurs other vehicles' plates in images handed to a data subject (OpenCV, run in a worker thread)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]


def _decode(jpeg: bytes) -> np.ndarray | None:
    if not jpeg:
        return None
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def _encode(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:  # pragma: no cover - encoding a decoded image does not fail
        raise ValueError("could not encode the blurred image")
    return bytes(buffer.tobytes())


def _blur_region(image: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> None:
    region = image[y1:y2, x1:x2]
    if region.size == 0:
        return
    # A kernel as large as the region makes the characters unreadable, not just soft.
    kx = max(3, (x2 - x1) // 2 * 2 + 1)
    ky = max(3, (y2 - y1) // 2 * 2 + 1)
    image[y1:y2, x1:x2] = cv2.GaussianBlur(region, (kx, ky), 0)


def blur_boxes(jpeg: bytes, boxes: Sequence[Box]) -> bytes | None:
    """The image with every box blurred; None when the bytes are not a decodable image (then the
    image must be withheld, never handed over unblurred)."""
    image = _decode(jpeg)
    if image is None:
        return None
    height, width = image.shape[:2]
    for x1, y1, x2, y2 in boxes:
        left, right = sorted((int(max(0, min(width, x1))), int(max(0, min(width, x2)))))
        top, bottom = sorted((int(max(0, min(height, y1))), int(max(0, min(height, y2)))))
        _blur_region(image, left, top, right, bottom)
    return _encode(image)


def blur_whole(jpeg: bytes) -> bytes | None:
    image = _decode(jpeg)
    if image is None:
        return None
    height, width = image.shape[:2]
    _blur_region(image, 0, 0, width, height)
    return _encode(image)
