"""Axis-aligned boxes (x1, y1, x2, y2) in pixels: the overlap measure shared by scoring and scenes."""

from __future__ import annotations

__all__ = ["Box", "intersection_over_union"]

Box = tuple[int, int, int, int]  # x1, y1, x2, y2


def intersection_over_union(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0
