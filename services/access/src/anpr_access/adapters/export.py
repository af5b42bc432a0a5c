"""The ZIP a data subject receives: their passages' reads and images, every other vehicle's plate
blurred."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from anpr_access.adapters.images import blur_boxes, blur_whole


def build_export(rows: Sequence[Any], neighbours: Sequence[Any], subject_plate: str) -> bytes:
    """The requester's records and images; every other vehicle's plate blurred (OpenCV)."""
    manifest = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            # A read is the requester's when its passage's consensus (or, of no passage, the read
            # itself) is their plate: a misread frame of their own passage is theirs too.
            own = (row.plate if row.passage_plate is None else row.passage_plate) == subject_plate
            entry: dict[str, Any] = {
                "event_id": row.event_id,
                "passage_id": row.passage_id,
                "captured_at": row.captured_at.isoformat(),
                "camera_id": row.camera_id,
                "direction": row.direction,
                # A record that only resembles the requester's plate is another vehicle: no plate text.
                "plate": row.plate if own else None,
                "formatted": row.formatted if own else None,
                "note": "" if own else "read of a similar plate; another vehicle's plate is withheld",
            }
            if row.plate_crop is not None:
                crop = bytes(row.plate_crop) if own else blur_whole(bytes(row.plate_crop))
                entry["crop"] = _add(archive, f"crops/{row.event_id}.jpg", crop)
            if row.overview is not None:
                others = [
                    tuple(n.box)
                    for n in neighbours
                    if n.frame_event_id == row.frame_event_id and n.event_id != row.event_id
                ]
                boxes = others if own else [*others, tuple(row.box)]
                entry["overview"] = _add(
                    archive, f"overviews/{row.event_id}.jpg", blur_boxes(bytes(row.overview), boxes)
                )
            manifest.append(entry)
        archive.writestr("reads.json", json.dumps({"plate": subject_plate, "reads": manifest}, indent=2))
    return buffer.getvalue()


def _add(archive: zipfile.ZipFile, name: str, image: bytes | None) -> str | None:
    # An image that cannot be blurred is withheld rather than handed over unblurred.
    if image is None:
        return None
    archive.writestr(name, image)
    return name
