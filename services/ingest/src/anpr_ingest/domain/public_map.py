"""The public camera map: where the cameras and their pictogram signs are, and nothing else. No I/O.

What is left out, on purpose: credentials (never), the impact-analysis reference (an internal
document of the zone and its DPO), the council approval reference, the kind of camera, border
arrangements with neighbour zones, status, health and last-seen times (they show when a camera is
down). Retired cameras and cameras without a registered position are not on the map.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

CSV_COLUMNS = (
    "camera_id",
    "name",
    "road",
    "direction",
    "latitude",
    "longitude",
    "sign_latitude",
    "sign_longitude",
    "sign_description",
)


@dataclass(frozen=True)
class MapCamera:
    camera_id: str
    name: str
    road: str
    direction: str
    latitude: float
    longitude: float
    sign_latitude: float | None
    sign_longitude: float | None
    sign_description: str


def to_csv(entries: Sequence[MapCamera]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            ["" if value is None else _csv_safe(value) for value in (getattr(entry, c) for c in CSV_COLUMNS)]
        )
    return buffer.getvalue()


def _csv_safe(value: object) -> object:
    # A text starting with = + - @ would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_geojson(entries: Iterable[MapCamera]) -> dict[str, Any]:
    """One Point feature per camera and one per sign, linked by camera_id (RFC 7946: lon, lat)."""
    features: list[dict[str, Any]] = []
    for entry in entries:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [entry.longitude, entry.latitude]},
                "properties": {
                    "feature": "camera",
                    "camera_id": entry.camera_id,
                    "name": entry.name,
                    "road": entry.road,
                    "direction": entry.direction,
                },
            }
        )
        if entry.sign_latitude is not None and entry.sign_longitude is not None:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [entry.sign_longitude, entry.sign_latitude]},
                    "properties": {
                        "feature": "sign",
                        "camera_id": entry.camera_id,
                        "description": entry.sign_description,
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def geojson_text(entries: Iterable[MapCamera]) -> str:
    return json.dumps(to_geojson(entries), separators=(",", ":"))
