"""A synthetic European evaluation set: plates of every country in the format table, in scenes.

`python -m anpr_detect_eval.european_set DIR` writes DIR/images/*.jpg and DIR/manifest.jsonl (the
layout `anpr eval` reads), deterministic for a seed. Per country: its current and older series,
drawn by their weight, one of them on a two-row plate where the country has one; and one plate of
each special series (diplomatic, trade, temporary, military) of Belgium and its neighbours. Each
plate is rendered in its country's look (anpr_detect_training.european) on a car in a road scene
(anpr_detect_training.synthetic). Ours, not real vehicles: it may be tuned against, unlike the
real dev sets; its seed for the figures reported is the default one.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from anpr_detect.domain.formats import FormatTable, PlateFormat, format_table
from anpr_detect.domain.layouts import Variant
from anpr_detect_training.european import european_face, look_of
from anpr_detect_training.synthetic import render_scene_with_box

__all__ = ["DEFAULT_SEED", "SetPlate", "european_plates", "write_european_set"]

DEFAULT_SEED = 20_251_201
_NEIGHBOURS = ("BE", "NL", "FR", "DE", "LU")
_EVERYDAY = frozenset({"standard", "older"})


@dataclass(frozen=True)
class SetPlate:
    text: str  # normalised, the label
    rows: tuple[str, ...]  # as printed: one row, or the two rows of a two-row plate
    plate_format: PlateFormat


def european_plates(table: FormatTable, per_country: int, seed: int) -> list[SetPlate]:
    """The set's plates, in a fixed order: countries alphabetically, then the special series."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    plates: list[SetPlate] = []
    for country in sorted(table.countries):
        everyday = [f for f in table.formats if f.country == country and f.series in _EVERYDAY]
        two_rows = [f for f in everyday if f.two_row]
        for index in range(per_country):
            two_row = bool(two_rows) and index == per_country - 1
            chosen = rng.choices(two_rows or everyday, weights=[f.weight for f in two_rows or everyday])[0]
            plates.append(_plate(table, chosen, rng, two_row=two_row))
    for plate_format in table.formats:
        if plate_format.country in _NEIGHBOURS and plate_format.series not in _EVERYDAY:
            plates.append(_plate(table, plate_format, rng, two_row=False))
    return plates


def write_european_set(folder: Path, per_country: int = 5, seed: int = DEFAULT_SEED) -> int:
    """Writes the set into `folder` (images/ and manifest.jsonl); returns the number of images."""
    table = format_table()
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, plate in enumerate(european_plates(table, per_country, seed)):
        country = plate.plate_format.country
        face = european_face(plate.rows, look_of(country, table.countries[country].band[0]))
        jpeg, (x1, y1, x2, y2) = render_scene_with_box(plate.text, seed=seed + index, face=face)
        name = f"{index:04d}_{country}.jpg"
        (images / name).write_bytes(jpeg)
        entry = {
            "image": name,
            "plate": plate.text,
            "bbox": [x1, y1, x2 - x1, y2 - y1],
            "source": "synthetic (anpr_detect_eval.european_set)",
            "country": country,
            "format": plate.plate_format.label,
            "rows": len(plate.rows),
        }
        lines.append(json.dumps(entry))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return len(lines)


def _plate(table: FormatTable, plate_format: PlateFormat, rng: random.Random, *, two_row: bool) -> SetPlate:
    variant: Variant = rng.choice(table.variants_of(plate_format))
    text = variant.example(rng)
    rows = variant.rows(text) if two_row else (variant.display(text),)
    return SetPlate(text, rows, plate_format)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m anpr_detect_eval.european_set", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--per-country", type=int, default=5)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    count = write_european_set(args.folder, args.per_country, args.seed)
    sys.stdout.write(json.dumps({"folder": str(args.folder), "images": count}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
