"""Public plate detectors from PyPI, measured against ours by `anpr eval --baseline`.

Never a dependency of the service: a baseline is used where its package is installed, and a clear
error says how to install it where not. `platedet` ships its YOLOv8s-seg model inside the wheel
(ONNX), so it runs offline like everything else here; its pinned dependencies (an old Pillow,
OpenCV and ONNX Runtime) would downgrade ours, hence `--no-deps`.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from anpr_detect.adapters.plate_detector import PlateBox

__all__ = ["PUBLIC_DETECTORS", "PlatedetBoxes", "PublicDetectorMissing"]

PUBLIC_DETECTORS = ("platedet",)

# platedet's own defaults are 0.6 / 0.4; a baseline for recall gets a lower bar, like our detector.
_PLATEDET_SCORE_THRESHOLD = 0.25
_PLATEDET_NMS_IOU = 0.45


class PublicDetectorMissing(RuntimeError):
    """The baseline's package is not installed."""


class PlatedetBoxes:
    """platedet's detector as a box finder (detect_batch), for DetectorPlateReader."""

    def __init__(self, threads: int, *, score_threshold: float = _PLATEDET_SCORE_THRESHOLD) -> None:
        try:
            module: Any = importlib.import_module("platedet")
        except ImportError as error:
            raise PublicDetectorMissing(
                "the platedet baseline is not installed; install it without its pinned dependencies: "
                "`uv pip install --python .venv/bin/python --no-deps platedet`"
            ) from error
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._model = module.Platedet(sess_options=options, providers=["CPUExecutionProvider"])
        self._score_threshold = score_threshold

    def detect_batch(self, images: list[npt.NDArray[np.uint8]]) -> list[list[PlateBox]]:
        return [self._detect(image) for image in images]

    def _detect(self, image: npt.NDArray[np.uint8]) -> list[PlateBox]:
        # platedet takes RGB, as its own command line hands it a Pillow image.
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        found = self._model.extract_roi(
            rgb, self._score_threshold, _PLATEDET_NMS_IOU, return_types=["boxes"]
        ).get("boxes")
        if not found:
            return []
        boxes = [
            PlateBox(box=(int(x1), int(y1), int(x2), int(y2)), score=float(score))
            for (x1, y1, x2, y2), score in zip(found["boxes"], found["confidences"], strict=True)
            if x2 - x1 >= 2 and y2 - y1 >= 2
        ]
        return sorted(boxes, key=lambda box: -box.score)
