"""What a roadside camera does to a scene: lighting, optics and sensor, down to its JPEG artefacts.

Part of the detector's synthetic training scenes (scenes.py); deterministic for the generator given.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["through_the_camera"]


def through_the_camera(rng: np.random.Generator, frame: Image.Image) -> npt.NDArray[np.uint8]:
    """Lighting, optics and sensor: night, infrared, glare, blur, noise and JPEG."""
    pixels = np.asarray(frame, dtype=np.float32)
    height, width = pixels.shape[:2]
    # Streets are mostly grey: wash the random colours out by a random amount.
    grey = pixels.mean(axis=2, keepdims=True)
    pixels = grey + (pixels - grey) * np.float32(rng.uniform(0.15, 1.0))
    look = rng.random()
    if look < 0.15:
        # Infrared: grey, with retro-reflective plates and dark surroundings.
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = np.repeat(np.clip((grey - 60) * 1.5, 0, 255), 3, axis=2)
    elif look < 0.3:
        # Night: dark, warm street light.
        pixels = pixels * np.float32(rng.uniform(0.15, 0.45)) * np.array([1.0, 0.9, 0.7], np.float32)
    else:
        pixels = pixels * np.float32(rng.uniform(0.7, 1.2))
    if rng.random() < 0.25:
        # Glare: a bright soft disc (headlights, low sun).
        gx, gy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.3) * width
        ys, xs = np.ogrid[:height, :width]
        falloff = np.exp(-((xs - gx) ** 2 + (ys - gy) ** 2) / (2 * radius**2)).astype(np.float32)
        pixels = pixels + falloff[..., None] * np.float32(rng.uniform(80, 220))
    image = np.clip(pixels, 0, 255).astype(np.uint8)
    blur = rng.random()
    if blur < 0.25:
        length = int(rng.integers(3, 12))
        line = np.zeros((length, length), np.float32)
        line[length // 2, :] = 1.0 / length
        angle = float(rng.uniform(0, 180))
        rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
        kernel = cv2.warpAffine(line, rotation, (length, length))
        normalised = np.asarray(kernel, np.float32) / np.float32(max(float(np.sum(kernel)), 1e-6))
        image = cv2.filter2D(image, -1, normalised)
    elif blur < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 2.0)))
    noisy = image.astype(np.float32) + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(
        rng.uniform(0, 10)
    )
    image = np.clip(noisy, 0, 255).astype(np.uint8)
    quality = int(rng.integers(30, 96))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return np.ascontiguousarray(decoded, dtype=np.uint8)
