"""Access's pure pieces: plate keys, month partitions and the retention plan, DPO steps, statistics, blur."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_access.adapters.images import blur_boxes, blur_whole
from anpr_access.domain.dpo import Decision, RequestState, StepRefused, check_step, is_overdue
from anpr_access.domain.retention import Month, months_ahead, plan_retention
from anpr_access.domain.stats import Bucket, as_csv, traffic
from anpr_core.plates import Confusables, normalise_plate

# --- plates -------------------------------------------------------------------------------------

# Access keys plates with the zone's classes (anpr_core.plates); these are the default ones.
plate_key = Confusables().key


def test_confusable_plates_share_a_key_and_others_do_not() -> None:
    assert plate_key("1-ABC-234") == plate_key("IA8C2З4".replace("З", "3")) == plate_key("LABC234")
    assert plate_key("1ABC234") != plate_key("1ABC235")
    assert plate_key("0DQO") == "0000"
    assert plate_key("S5Z2G6B8") == "55226688"


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. ", max_size=12))
def test_plate_key_is_idempotent_and_length_preserving(raw: str) -> None:
    key = plate_key(raw)
    assert plate_key(key) == key
    assert len(key) == len(normalise_plate(raw))


# --- months and the retention plan --------------------------------------------------------------


def test_month_bounds_and_partition_names_round_trip() -> None:
    december = Month.of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert december.partition == "reads_p2026_12"
    assert december.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert Month.from_partition("reads_p2026_12") == december
    assert Month.from_partition("held_reads") is None
    assert [m.partition for m in months_ahead(datetime(2026, 11, 28, tzinfo=UTC), 2)] == [
        "reads_p2026_11",
        "reads_p2026_12",
        "reads_p2027_01",
    ]


def test_retention_drops_old_months_trims_the_straddling_one_and_keeps_held_months() -> None:
    months = [Month(2025, m) for m in (9, 10, 11, 12)] + [Month(2026, 1)]
    cutoff = datetime(2025, 11, 15, tzinfo=UTC)
    plan = plan_retention(months, cutoff, held={Month(2025, 10)})
    assert plan.drop == [Month(2025, 9)]
    assert plan.trim == [Month(2025, 10), Month(2025, 11)]


def test_a_cutoff_on_a_month_boundary_drops_that_month_whole() -> None:
    plan = plan_retention([Month(2025, 10), Month(2025, 11)], datetime(2025, 11, 1, tzinfo=UTC), held=set())
    assert plan.drop == [Month(2025, 10)]
    assert plan.trim == []


# --- DPO request steps --------------------------------------------------------------------------


def test_dpo_steps_follow_the_states() -> None:
    check_step("locate", RequestState.REGISTERED)
    check_step("decide", RequestState.LOCATED)
    check_step("execute", RequestState.DECIDED, Decision.GRANT)
    check_step("close", RequestState.EXECUTED)
    with pytest.raises(StepRefused, match="registered"):
        check_step("decide", RequestState.REGISTERED)
    with pytest.raises(StepRefused, match="close it instead"):
        check_step("execute", RequestState.DECIDED, Decision.REFUSE)
    with pytest.raises(StepRefused):
        check_step("locate", RequestState.CLOSED)


def test_overdue_means_past_the_deadline_and_not_yet_answered() -> None:
    deadline = datetime(2026, 12, 1, tzinfo=UTC)
    after = deadline + timedelta(seconds=1)
    assert is_overdue(deadline, RequestState.LOCATED, after)
    assert not is_overdue(deadline, RequestState.LOCATED, deadline)
    assert not is_overdue(deadline, RequestState.EXECUTED, after)
    assert not is_overdue(deadline, RequestState.CLOSED, after)


# --- statistics ---------------------------------------------------------------------------------


def test_traffic_counts_in_and_out_per_camera_and_bucket() -> None:
    t = datetime(2026, 11, 28, 10, 15, tzinfo=UTC)
    rows = traffic(
        [
            ("cam-1", t, "in", 1),
            ("cam-1", t + timedelta(minutes=30), "out", 2),
            ("cam-1", t + timedelta(hours=1), "in", 1),
            ("cam-2", t, "both", 4),
        ],
        Bucket.HOUR,
    )
    assert [
        (r.camera_id, r.bucket_start.hour, r.passages_in, r.passages_out, r.passages_other) for r in rows
    ] == [
        ("cam-1", 10, 1, 2, 0),
        ("cam-2", 10, 0, 0, 4),
        ("cam-1", 11, 1, 0, 0),
    ]
    daily = traffic([("cam-1", t, "in", 1), ("cam-1", t + timedelta(hours=5), "in", 1)], Bucket.DAY)
    assert [(r.bucket_start, r.passages_in) for r in daily] == [(datetime(2026, 11, 28, tzinfo=UTC), 2)]
    assert as_csv(daily).splitlines() == [
        "camera_id,bucket_start,passages_in,passages_out,passages_other",
        "cam-1,2026-11-28T00:00:00+00:00,2,0,0",
    ]


# --- blurring -----------------------------------------------------------------------------------


def _textured(width: int, height: int) -> bytes:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(buffer.tobytes())


def _detail(jpeg: bytes, box: tuple[int, int, int, int]) -> float:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    x1, y1, x2, y2 = box
    return float(cv2.Laplacian(image[y1:y2, x1:x2], cv2.CV_64F).var())


def test_blur_flattens_the_boxes_and_leaves_the_rest() -> None:
    original = _textured(200, 100)
    blurred = blur_boxes(original, [(20, 20, 80, 60)])
    assert blurred is not None
    assert _detail(blurred, (20, 20, 80, 60)) < _detail(original, (20, 20, 80, 60)) / 20
    assert _detail(blurred, (120, 20, 180, 60)) > _detail(original, (120, 20, 180, 60)) / 2
    whole = blur_whole(original)
    assert whole is not None
    assert _detail(whole, (0, 0, 200, 100)) < _detail(original, (0, 0, 200, 100)) / 20


def test_an_image_that_cannot_be_decoded_is_withheld_not_passed_through() -> None:
    assert blur_boxes(b"\xff\xd8not a jpeg", [(0, 0, 5, 5)]) is None
    assert blur_whole(b"") is None
