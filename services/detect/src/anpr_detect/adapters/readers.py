"""The plate readers the service, the CLI and the evaluation can run, and how to build them.

- "detector": the project's own YOLO plate detector finds plates, PP-OCR reads each one on a
  crop of it (adapters/plate_detector.py + RapidOcrPlateReader.read_region);
- "text": PP-OCR text detection over the whole frame, plate-like lines kept (the foundation's
  reader, and the fallback when the detector finds nothing, if asked for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from anpr_detect.adapters.ocr import RapidOcrPlateReader, ReaderTuning
from anpr_detect.adapters.plate_detector import OnnxPlateDetector, PlateBox
from anpr_detect.adapters.plate_reading import DetectedPlate, PlateReader

__all__ = [
    "DEFAULT_READER_KIND",
    "READER_KINDS",
    "READER_NAMES",
    "DetectorPlateReader",
    "PlateBoxFinder",
    "ReaderKind",
    "build_reader",
]

ReaderKind = Literal["detector", "detector+text", "text"]
READER_KINDS: tuple[ReaderKind, ...] = ("detector", "detector+text", "text")
# What each read records as its reader (PlateRead.reader), so a read can be traced to the models.
READER_NAMES: dict[ReaderKind, str] = {
    "text": "rapidocr-ppocr",
    "detector": "schild-plate-detector+rapidocr-ppocr",
    "detector+text": "schild-plate-detector+rapidocr-ppocr/text-fallback",
}
# What the service and the CLI run unless told otherwise; chosen by `anpr eval` on real photos.
DEFAULT_READER_KIND: ReaderKind = "text"


class PlateBoxFinder(Protocol):
    """Finds plate boxes in BGR frames: our detector, or a public one measured against it."""

    def detect_batch(self, images: list[npt.NDArray[np.uint8]]) -> list[list[PlateBox]]: ...


class DetectorPlateReader:
    """PlateReader: plate boxes from the detector, text from PP-OCR on each box."""

    def __init__(
        self, detector: PlateBoxFinder, ocr: RapidOcrPlateReader, *, full_frame_fallback: bool = False
    ) -> None:
        self._detector = detector
        self._ocr = ocr
        self._full_frame_fallback = full_frame_fallback

    def read(self, image: npt.NDArray[np.uint8]) -> list[DetectedPlate]:
        return self.read_batch([image])[0]

    def read_batch(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[DetectedPlate]]:
        """Detection batched across the frames; recognition per plate."""
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
                raise ValueError(f"expected a BGR image of shape (h, w, 3), got {image.shape}")
        detections = self._detector.detect_batch(list(images))
        results = []
        for image, boxes in zip(images, detections, strict=True):
            plates = [p for b in boxes if (p := self._ocr.read_region(image, b.box)) is not None]
            if not plates and self._full_frame_fallback:
                plates = self._ocr.read(image)
            # Valid readings first, then by confidence: the first plate is the frame's best.
            results.append(sorted(plates, key=lambda p: (p.valid, p.confidence), reverse=True))
        return results


def build_reader(
    kind: ReaderKind, threads: int, tuning: ReaderTuning | None = None, *, spinning: bool = False
) -> PlateReader:
    """`threads` intra-op threads for each of the reader's sessions; `spinning` lets their idle
    threads busy-wait (ONNX Runtime's default; off here, see adapters/onnx_threads.py)."""
    ocr = RapidOcrPlateReader(threads=threads, tuning=tuning, spinning=spinning)
    if kind == "text":
        return ocr
    detector = OnnxPlateDetector(threads=threads, spinning=spinning)
    return DetectorPlateReader(detector, ocr, full_frame_fallback=kind == "detector+text")
