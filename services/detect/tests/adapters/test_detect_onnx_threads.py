"""Detect's ONNX Runtime sessions run with the threads and spinning the settings ask for."""

from __future__ import annotations

import os

import onnxruntime as ort
import pytest

from anpr_detect.adapters.ocr import RapidOcrPlateReader
from anpr_detect.adapters.onnx_threads import SPINNING_ENTRY, machine_cores, threads_per_reader
from anpr_detect.adapters.plate_detector import OnnxPlateDetector
from anpr_detect.adapters.readers import DetectorPlateReader, build_reader
from anpr_detect.bootstrap import threads_per_reader as service_threads
from anpr_detect.settings import DetectSettings


def _carried(options: ort.SessionOptions) -> tuple[int, str]:
    return options.intra_op_num_threads, options.get_session_config_entry(SPINNING_ENTRY)


def test_the_cores_are_the_ones_this_process_may_use() -> None:
    assert machine_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cores", "readers", "each"), [(2, 2, 1), (8, 2, 4), (16, 3, 5), (1, 4, 1), (4, 1, 4)]
)
def test_unset_threads_follow_the_cores_shared_by_the_readers(
    monkeypatch: pytest.MonkeyPatch, cores: int, readers: int, each: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)))
    assert threads_per_reader(None, readers) == each
    assert service_threads(DetectSettings(max_inflight=readers)) == each


def test_the_threads_setting_overrides_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(16)))
    assert service_threads(DetectSettings(threads=2, max_inflight=2)) == 1
    assert DetectSettings().threads is None
    assert DetectSettings().ort_spinning is False


def test_the_plate_detector_session_does_not_spin() -> None:
    assert _carried(OnnxPlateDetector(threads=1).session_options) == (1, "0")
    assert _carried(OnnxPlateDetector(threads=2, spinning=True).session_options) == (2, "1")


def test_rapidocr_runs_the_sessions_built_with_the_settings() -> None:
    reader = RapidOcrPlateReader(threads=1)
    for session in reader.sessions.values():
        assert _carried(session.get_session_options()) == (1, "0")
    # rapidocr reads and recognises with those very sessions, not sessions of its own making.
    engine = reader._engine
    assert engine.text_det.session.session is reader.sessions["detection"]
    assert engine.text_rec.session.session is reader.sessions["recognition"]


def test_the_service_reader_passes_spinning_to_every_session() -> None:
    settings = DetectSettings(threads=2, max_inflight=1, reader="detector", ort_spinning=True)
    from anpr_detect.bootstrap import onnx_reader

    reader = onnx_reader(settings)
    assert isinstance(reader, DetectorPlateReader)
    detector = reader._detector
    assert isinstance(detector, OnnxPlateDetector)
    assert _carried(detector.session_options) == (2, "1")
    for session in reader._ocr.sessions.values():
        assert _carried(session.get_session_options()) == (2, "1")
    text = build_reader("text", threads=1)
    assert isinstance(text, RapidOcrPlateReader)
    assert {_carried(s.get_session_options()) for s in text.sessions.values()} == {(1, "0")}
