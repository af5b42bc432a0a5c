"""How much of an image detect will decode: a bound on memory, whatever reaches the frames topic."""

from __future__ import annotations

# What ANPR cameras send (2 to 12 megapixels) with room to spare; ingest refuses more with 413
# (ANPR_MAX_IMAGE_PIXELS, the same setting). Decoding costs 3 bytes a pixel, and 8 while a 16-bit
# PNG is converted: at this maximum, at most 128 MiB for one frame, however few bytes it came in.
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
