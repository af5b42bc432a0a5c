"""A read from the wire becomes a row with its images: the plate crop and the overview frame."""

from __future__ import annotations

from anpr.v1 import read_pb2
from anpr_access.adapters.codecs import read_record
from anpr_core.events import new_meta
from anpr_core.plates import Confusables


def test_a_read_row_keeps_the_crop_and_the_overview_and_stores_absent_images_as_null() -> None:
    read = read_pb2.PlateRead(meta=new_meta("z1", "detect"), camera_id="cam-1", plate="1ABC234")
    read.captured_at.GetCurrentTime()
    read.plate_crop, read.overview = b"\xff\xd8crop", b"\xff\xd8frame"
    row = read_record(read, Confusables())
    assert (row.plate_crop, row.overview) == (b"\xff\xd8crop", b"\xff\xd8frame")
    read.ClearField("overview")
    read.ClearField("plate_crop")
    row = read_record(read, Confusables())
    assert (row.plate_crop, row.overview) == (None, None)
