"""The synthetic European evaluation set: every country, one and two rows, special series, readable."""

from __future__ import annotations

import json
from pathlib import Path

from anpr_detect.domain.formats import format_table
from anpr_detect_eval.european_set import DEFAULT_SEED, european_plates, write_european_set
from anpr_detect_eval.scoring import load_manifest


def test_the_set_covers_every_country_both_layouts_and_the_neighbours_special_series() -> None:
    table = format_table()
    plates = european_plates(table, per_country=3, seed=DEFAULT_SEED)
    assert {p.plate_format.country for p in plates} == set(table.countries)
    assert any(len(p.rows) == 2 for p in plates if p.plate_format.country == "BE")
    special = {(p.plate_format.country, p.plate_format.series) for p in plates}
    assert {("BE", "diplomatic"), ("NL", "diplomatic"), ("FR", "military"), ("DE", "trade")} <= special
    # Every label is its format's own text, printed as the format prints it.
    for plate in plates:
        assert any(v.matches(plate.text) for v in table.variants_of(plate.plate_format))
        assert "".join(plate.rows).replace("-", "").replace(" ", "") == plate.text
    assert european_plates(table, 3, DEFAULT_SEED) == plates  # deterministic


def test_the_set_is_written_as_anpr_eval_reads_it(tmp_path: Path) -> None:
    count = write_european_set(tmp_path, per_country=1, seed=7)
    labelled = load_manifest(tmp_path)
    assert len(labelled) == count > 37
    entries = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert {e["country"] for e in entries} == set(format_table().countries)
    for label in labelled[:5]:
        assert label.image.read_bytes()[:2] == b"\xff\xd8"
        x1, y1, x2, y2 = label.box
        assert 0 <= x1 < x2 <= 1280 and 0 <= y1 < y2 <= 720
