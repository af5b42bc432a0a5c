"""The project's plate detector on ONNX Runtime: pre- and post-processing, and the committed model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anpr_detect.adapters import plate_detector
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.plate_detector import MODEL_PATH, OnnxPlateDetector, _decode, _letterbox
from anpr_detect_eval.scoring import intersection_over_union
from anpr_detect_training.synthetic import render_scene_with_box


@pytest.fixture(scope="module")
def detector() -> OnnxPlateDetector:
    return OnnxPlateDetector(threads=2)


def test_letterbox_scales_the_long_side_and_pads_to_the_stride() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    tensor, scale = _letterbox(image, 512)
    assert scale == pytest.approx(0.4)
    assert tensor.shape == (3, 288, 512) and tensor.dtype == np.float32
    # RGB order for the network: blue is the last channel.
    assert tensor[2, 0, 0] == pytest.approx(1.0) and tensor[0, 0, 0] == pytest.approx(0.0)
    odd, _ = _letterbox(np.zeros((610, 800, 3), np.uint8), 512)
    assert odd.shape == (3, 416, 512)  # 610 * 0.64 = 390, padded up to 13 strides of 32
    assert odd[0, -1, 0] == pytest.approx(114 / 255)  # the padding is ultralytics' grey


def test_decode_maps_boxes_back_suppresses_overlaps_and_drops_weak_scores() -> None:
    # Raw head layout: rows cx, cy, w, h, score; one column per anchor, in network pixels.
    anchors = np.array(
        [
            [100.0, 50.0, 40.0, 10.0, 0.9],  # a plate
            [101.0, 51.0, 40.0, 10.0, 0.8],  # the same plate again: suppressed
            [300.0, 200.0, 60.0, 20.0, 0.6],  # another plate
            [10.0, 10.0, 5.0, 5.0, 0.05],  # noise
        ],
        np.float32,
    ).T
    boxes = _decode(anchors, scale=0.5, width=1280, height=720, threshold=0.2)
    assert [b.score for b in boxes] == pytest.approx([0.9, 0.6])
    assert boxes[0].box == (160, 90, 240, 110)
    assert boxes[1].box == (540, 380, 660, 420)
    assert _decode(anchors, scale=0.5, width=1280, height=720, threshold=0.95) == []


def test_the_committed_model_has_its_training_record() -> None:
    record = json.loads(MODEL_PATH.with_name("plate_detector.training.json").read_text())
    assert record["classes"] == ["plate"] and record["recipe"]["pretrained"] is False
    assert plate_detector.default_long_side() == record["imgsz"]
    assert (MODEL_PATH.parent / "MODEL_CARD.md").is_file()


@pytest.mark.parametrize(
    ("plate", "country", "seed"), [("1ABC234", "BE", 1), ("GB12TX", "NL", 2), ("AB123CD", "FR", 3)]
)
def test_the_model_finds_a_rendered_plate_tightly(
    detector: OnnxPlateDetector, plate: str, country: str, seed: int
) -> None:
    image, box = render_scene_with_box(plate, seed=seed, country=country)
    found = detector.detect(decode_image(image))
    assert found, "no plate found"
    assert intersection_over_union(found[0].box, box) >= 0.6
    assert 0.2 <= found[0].score <= 1.0


def test_an_empty_road_has_no_plate_and_batches_agree_with_single_frames(detector: OnnxPlateDetector) -> None:
    rng = np.random.default_rng(3)
    empty = rng.integers(90, 110, (720, 1280, 3), dtype=np.uint8)
    assert detector.detect(empty) == []
    frames = [decode_image(render_scene_with_box("1ABC234", seed=s)[0]) for s in (4, 5)]
    portrait = np.ascontiguousarray(np.transpose(frames[0], (1, 0, 2)))
    batch = detector.detect_batch([*frames, portrait])
    assert [b.box for b in batch[0]] == [b.box for b in detector.detect(frames[0])]
    assert [b.box for b in batch[1]] == [b.box for b in detector.detect(frames[1])]
    assert len(batch) == 3


def test_a_missing_model_file_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="plate detector model not found"):
        OnnxPlateDetector(MODEL_PATH.with_name("absent.onnx"))


def test_the_cuda_provider_is_asked_for_where_onnx_runtime_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    from anpr_detect.adapters import ocr

    asked: list[list[str]] = []
    real_session = onnxruntime.InferenceSession

    def recording_session(path: str, options: object, providers: list[str]) -> object:
        asked.append(providers)
        return real_session(path, options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(
        onnxruntime,
        "get_available_providers",
        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    OnnxPlateDetector(threads=1)
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"]]
    assert ocr.cuda_available() is True
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert ocr.cuda_available() is False
