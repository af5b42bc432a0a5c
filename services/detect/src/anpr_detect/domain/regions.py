"""A camera's region of interest and expected plate width (the camera register's, riding on each
frame): the part of the frame read, and which plates found there are kept. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Box", "ReadingRegion"]

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels


@dataclass(frozen=True)
class ReadingRegion:
    polygon: tuple[tuple[int, int], ...] = ()  # empty: the whole frame
    min_plate_width: int = 0  # 0: no bound
    max_plate_width: int = 0

    def crop_box(self, width: int, height: int) -> Box | None:
        """The polygon's bounding box clipped to the frame; the whole frame without a polygon; None
        where the polygon lies outside the frame."""
        if not self.polygon:
            return (0, 0, width, height)
        xs = [x for x, _ in self.polygon]
        ys = [y for _, y in self.polygon]
        x1, y1 = max(0, min(xs)), max(0, min(ys))
        x2, y2 = min(width, max(xs) + 1), min(height, max(ys) + 1)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        return (x1, y1, x2, y2)

    def keeps(self, box: Box) -> bool:
        """A plate is kept where its box's centre is inside the polygon and its width in bounds."""
        width = box[2] - box[0]
        if self.min_plate_width and width < self.min_plate_width:
            return False
        if self.max_plate_width and width > self.max_plate_width:
            return False
        return not self.polygon or self.contains((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    def contains(self, x: float, y: float) -> bool:
        """Whether the point is inside the polygon (even-odd rule)."""
        inside = False
        corners = self.polygon
        for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside
