"""The decoding bench's per-plate figures: what grammar.json reports of the times it took."""

from __future__ import annotations

import pytest

from bench.bench_grammar import figures


def test_the_figures_are_the_mean_median_tail_and_slowest_plate_in_milliseconds() -> None:
    times = [0.1 * n for n in range(1, 101)]  # 0.1 .. 10.0 ms
    assert figures(times) == {
        "ms_per_plate_mean": pytest.approx(5.05),
        "ms_per_plate_p50": pytest.approx(5.05),
        "ms_per_plate_p95": pytest.approx(9.505),
        "ms_per_plate_max": pytest.approx(10.0),
    }


def test_one_slow_plate_shows_in_the_slowest_not_the_median() -> None:
    found = figures([0.3] * 99 + [40.0])
    assert (found["ms_per_plate_p50"], found["ms_per_plate_max"]) == (0.3, 40.0)
    assert found["ms_per_plate_mean"] == pytest.approx(0.697)


def test_no_times_is_an_error_not_a_figure() -> None:
    with pytest.raises(ValueError, match="no plate"):
        figures([])
