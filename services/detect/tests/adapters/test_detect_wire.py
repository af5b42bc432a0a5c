"""A read on the wire carries the reader's evidence: per-character probabilities, best readings,
the runner-up country and the format; a reader without evidence leaves those fields empty."""

from __future__ import annotations

import numpy as np

from anpr.v1 import frame_pb2, read_pb2
from anpr_core.events import new_meta
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.wire import reads_for_frame
from anpr_detect.domain.interpretation import PlateReading

IMAGE = np.full((16, 16, 3), 128, np.uint8)


def _frame() -> frame_pb2.Frame:
    return frame_pb2.Frame(meta=new_meta("zone-1", "ingest"), camera_id="cam-1", image=b"jpeg")


def test_a_read_carries_the_evidence_of_its_plate() -> None:
    plate = DetectedPlate(
        "ABC123",
        "ABC-123",
        "BE",
        True,
        0.8,
        (1, 1, 9, 9),
        (("ABC 123", 0.8),),
        text_probabilities=(0.99, 0.98, 0.97, 0.96, 0.3, 0.99),
        readings=(PlateReading("ABC123", "ABC-123", "BE", 0.7), PlateReading("ABC1Z3", "ABC1Z3", "", 0.3)),
        country_runner_up="LT",
        format_name="BE 1973-2008",
    )
    [read] = reads_for_frame(_frame(), IMAGE, [plate], "zone-1")
    decoded = read_pb2.PlateRead.FromString(read.SerializeToString())
    assert list(decoded.character_probabilities) == [
        np.float32(x) for x in (0.99, 0.98, 0.97, 0.96, 0.3, 0.99)
    ]
    assert [(r.text, r.formatted, r.country) for r in decoded.readings] == [
        ("ABC123", "ABC-123", "BE"),
        ("ABC1Z3", "ABC1Z3", ""),
    ]
    assert [round(r.probability, 3) for r in decoded.readings] == [0.7, 0.3]
    assert (decoded.country_runner_up, decoded.plate_format) == ("LT", "BE 1973-2008")


def test_a_read_without_evidence_leaves_the_fields_empty() -> None:
    plate = DetectedPlate("ABC123", "ABC-123", "BE", True, 0.8, (1, 1, 9, 9), (("ABC123", 0.8),))
    [read] = reads_for_frame(_frame(), IMAGE, [plate], "zone-1")
    assert (list(read.character_probabilities), list(read.readings)) == ([], [])
    assert (read.country_runner_up, read.plate_format) == ("", "")
