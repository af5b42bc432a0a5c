"""The project's own plate detector (YOLO, trained by services/detect/training) on ONNX Runtime.

The model is committed inside the package (models/plate_detector.onnx, see its MODEL_CARD.md), so
nothing is downloaded. It is exported with dynamic input size: each frame is scaled so that its
longer side is `long_side`, and padded to a multiple of the network stride, which keeps a 16:9
frame at about half the cost of a square input. The CUDA provider is used where ONNX Runtime has it.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from anpr_detect.adapters import onnx_threads

__all__ = ["MODEL_PATH", "OnnxPlateDetector", "PlateBox", "default_long_side"]

logger = logging.getLogger(__name__)

MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "plate_detector.onnx"
_TRAINING_RECORD = MODEL_PATH.with_name("plate_detector.training.json")
_STRIDE = 32
_PAD_VALUE = 114  # ultralytics' letterbox grey, what the model saw in training
# Kept low: a missed plate is lost for good, while a false box only costs one recognition, and the
# grammar and the recogniser's score drop what is not a plate.
_SCORE_THRESHOLD = 0.2
_NMS_IOU = 0.5
_MAX_BOXES = 20


@dataclass(frozen=True)
class PlateBox:
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels
    score: float


def default_long_side() -> int:
    """The input size the committed model was trained at (its training record says)."""
    try:
        return int(json.loads(_TRAINING_RECORD.read_text())["imgsz"])
    except (OSError, KeyError, ValueError):
        return 512


class OnnxPlateDetector:
    """Finds plates in BGR frames. Thread-safe (ONNX Runtime sessions may be shared)."""

    def __init__(
        self,
        model_path: Path = MODEL_PATH,
        *,
        threads: int = 2,
        long_side: int | None = None,
        score_threshold: float = _SCORE_THRESHOLD,
        spinning: bool = False,
    ) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(f"plate detector model not found: {model_path}")
        options = onnx_threads.session_options(threads, spinning=spinning)
        # The CUDA provider where onnxruntime-gpu finds a device; the CPU provider always follows.
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self._session: Any = ort.InferenceSession(str(model_path), options, providers=providers)
        self._input = self._session.get_inputs()[0].name
        self._long_side = long_side or default_long_side()
        self._score_threshold = score_threshold
        self._lock = threading.Lock()
        self.providers: list[str] = list(self._session.get_providers())
        self.detect(np.zeros((64, 64, 3), np.uint8))  # loads the kernels now, not on the first frame
        logger.info(
            "plate detector ready (%s, long side %d, %s)", model_path.name, self._long_side, self.providers
        )

    @property
    def long_side(self) -> int:
        return self._long_side

    @property
    def session_options(self) -> ort.SessionOptions:
        """The options the session runs with (threads, spinning), as ONNX Runtime holds them."""
        return self._session.get_session_options()

    def detect(self, image: npt.NDArray[np.uint8]) -> list[PlateBox]:
        """Plate boxes in a BGR uint8 frame, best first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[npt.NDArray[np.uint8]]) -> list[list[PlateBox]]:
        """One call per distinct input size; frames of one size share a batch."""
        results: list[list[PlateBox]] = [[] for _ in images]
        groups: dict[tuple[int, int], list[int]] = {}
        prepared = [_letterbox(image, self._long_side) for image in images]
        for index, (tensor, _) in enumerate(prepared):
            groups.setdefault(tensor.shape[1:], []).append(index)
        for indices in groups.values():
            batch = np.stack([prepared[i][0] for i in indices])
            with self._lock:
                (output,) = self._session.run(None, {self._input: batch})
            for row, index in zip(output, indices, strict=True):
                height, width = images[index].shape[:2]
                results[index] = _decode(row, prepared[index][1], width, height, self._score_threshold)
        return results


def _letterbox(image: npt.NDArray[np.uint8], long_side: int) -> tuple[npt.NDArray[np.float32], float]:
    """CHW float RGB in [0, 1], scaled to the long side and padded right/bottom to the stride."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(
        image, (new_width, new_height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    padded_height = -(-new_height // _STRIDE) * _STRIDE
    padded_width = -(-new_width // _STRIDE) * _STRIDE
    canvas = np.full((padded_height, padded_width, 3), _PAD_VALUE, np.uint8)
    canvas[:new_height, :new_width] = resized
    tensor = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(tensor), scale


def _decode(
    output: npt.NDArray[np.float32], scale: float, width: int, height: int, threshold: float
) -> list[PlateBox]:
    """ultralytics' raw head (4 + classes, anchors): centre-size boxes, then NMS."""
    predictions = output.T
    scores = predictions[:, 4:].max(axis=1)
    keep = scores >= threshold
    if not keep.any():
        return []
    predictions, scores = predictions[keep], scores[keep]
    centre_x, centre_y, box_w, box_h = (predictions[:, i] / scale for i in range(4))
    x1 = np.clip(centre_x - box_w / 2, 0, width)
    y1 = np.clip(centre_y - box_h / 2, 0, height)
    x2 = np.clip(centre_x + box_w / 2, 0, width)
    y2 = np.clip(centre_y + box_h / 2, 0, height)
    rectangles = [
        [float(a), float(b), float(c - a), float(d - b)] for a, b, c, d in zip(x1, y1, x2, y2, strict=True)
    ]
    kept = cv2.dnn.NMSBoxes(rectangles, [float(s) for s in scores], threshold, _NMS_IOU)
    order = sorted((int(i) for i in np.asarray(kept).reshape(-1)), key=lambda i: -float(scores[i]))
    boxes = []
    for i in order[:_MAX_BOXES]:
        box = (int(x1[i]), int(y1[i]), int(np.ceil(x2[i])), int(np.ceil(y2[i])))
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            boxes.append(PlateBox(box=box, score=float(scores[i])))
    return boxes
