"""Offline plate reader on rapidocr 3.x (PP-OCR ONNX models shipped inside the rapidocr wheel).

Foundation approach, until a trained plate detector exists: PP-OCR text detection and recognition
run on the whole frame; text lines that look like a plate (shape, 4..10 alphanumerics) are kept,
pieces of one plate split into adjacent boxes are merged, and the plate grammar decides what each
reading means. The models are loaded from the wheel's own folder by explicit path, so rapidocr never
reaches for its download code: the service must work on an air-gapped police network. Which text
lines look like a plate is text_lines.py's business; what a reader returns is plate_reading.py's.
"""

from __future__ import annotations

import os

# Must be set before onnxruntime is first imported (rapidocr imports it): no telemetry leaves the host.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import logging
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import rapidocr
from omegaconf import flag_override
from rapidocr.ch_ppocr_rec import TextRecInput
from rapidocr.utils.process_img import get_rotate_crop_image

from anpr_detect.adapters import onnx_threads
from anpr_detect.adapters.line_reading import Recognised, read_line, read_two_rows
from anpr_detect.adapters.plate_reading import DetectedPlate, detected_plate, without_duplicates
from anpr_detect.adapters.text_lines import (
    MIN_TEXT_HEIGHT_PX,
    Span,
    TextBox,
    region_crop,
    slanted_height,
    stacked_pairs,
    text_box,
    text_lines,
    two_row_bbox,
)
from anpr_detect.domain.ctc import CharacterReading, greedy_characters
from anpr_detect.domain.lattice import Lattice, RecogniserAlphabet
from anpr_detect.domain.reading import PlateDecoder, ReadingSettings

__all__ = ["RapidOcrPlateReader", "ReaderTuning", "cuda_available"]

logger = logging.getLogger(__name__)

# Detection runs on the frame scaled so that its longer side is at most this: 1280x720 becomes
# 960x540, where a 160 px plate still has ~18 px characters, and detection (the dominant cost)
# takes about half the time of full resolution.
_DETECTION_LONG_SIDE = 960
_DETECTION_PIXELS = 960 * 540
# rapidocr drops readings below this; kept low because the grammar, not the OCR score alone, decides.
_MIN_TEXT_SCORE = 0.3

# A line whose reading fits no format gets a second recognition pass on a tight crop of its box.
# Measured by hand on real photos, that reads a few more plates exactly; doing the same for valid
# but low-confidence readings swapped some right readings for wrong ones, so those are left alone.
_REREAD_PADDING_IN_HEIGHTS = 0.15


@dataclass(frozen=True)
class ReaderTuning:
    """The knobs that trade speed for reads; the defaults are what the service runs."""

    # Longer side of the frame as the text detector sees it.
    detection_long_side: int = _DETECTION_LONG_SIDE
    # And at most this many pixels: detection time grows with the pixel count, and a square frame at
    # the long-side limit costs almost twice a 16:9 one. None: the long side alone limits.
    detection_pixels: int | None = _DETECTION_PIXELS
    # Second recognition pass on a tight crop of lines whose reading fits no format.
    reread: bool = True
    # Detection and recognition driven here rather than by rapidocr's one-call pipeline: boxes that
    # cannot be plate text are dropped before recognition, the rest are cropped from the full
    # resolution frame and recognised in one batched call.
    split_pipeline: bool = True
    # ONNX Runtime's CPU memory arena reuses buffers between frames (rapidocr turns it off).
    memory_arena: bool = True
    # How readings become plates: "formats", the recogniser's output decoded along the national
    # formats table (domain/reading.py); "grammar", the earlier grammar (the evaluation's baseline).
    decoder: Literal["formats", "grammar"] = "formats"
    # Two stacked lines in a frame are also read as one two-row plate (the detector's crops always are).
    two_row_lines: bool = True
    # The formats decoder's settings: the zone's country priors and the costs it weighs.
    reading: ReadingSettings = field(default_factory=ReadingSettings)


class _CtcText(str):
    """A recognised text that also carries its characters' CTC readings (see _CtcCapture)."""

    characters: tuple[CharacterReading, ...] = ()
    lattice: Lattice | None = None


class _CtcCapture:
    """Wraps rapidocr's CTC decoder: the same texts and scores, each text carrying the greedy
    path's per-character probabilities and runner-ups, and the whole softmax output folded onto
    the plate alphabet (the lattice the formats decoder reads), from the same output."""

    def __init__(self, decode: Any) -> None:
        self._decode = decode
        self.character: list[str] = list(decode.character)
        self._alphabet = RecogniserAlphabet(self.character)

    def __call__(self, preds: Any, return_word_box: bool = False, **kwargs: Any) -> Any:
        lines, words = self._decode(preds, return_word_box, **kwargs)
        folded = self._alphabet.fold(np.asarray(preds))
        enriched = []
        for row, plate_row, (text, score) in zip(preds, folded, lines, strict=True):
            characters = greedy_characters(np.asarray(row), self.character)
            captured = _CtcText(text)
            if "".join(c.character for c in characters) == text:
                captured.characters = characters
            captured.lattice = Lattice(plate_row)
            enriched.append((captured, score))
        return enriched, words


class RapidOcrPlateReader:
    """PlateReader on rapidocr. Thread-safe; calls are serialised (the engine keeps per-call state)."""

    def __init__(
        self, threads: int = 2, tuning: ReaderTuning | None = None, *, spinning: bool = False
    ) -> None:
        self._tuning = tuning or ReaderTuning()
        detection_model, recognition_model = _bundled_models()
        # rapidocr's params set threads and the arena but no session config entry (spinning): its
        # sessions are built here and handed to it by its `session` key (rapidocr PR #451), which
        # only its config object, not its params, can carry (OmegaConf refuses objects otherwise).
        options = onnx_threads.session_options(
            threads, spinning=spinning, memory_arena=self._tuning.memory_arena
        )
        providers = [
            p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()
        ]
        self.sessions: dict[str, Any] = {
            "detection": ort.InferenceSession(str(detection_model), options, providers=providers),
            "recognition": ort.InferenceSession(str(recognition_model), options, providers=providers),
        }
        self._engine: Any = rapidocr.RapidOCR(
            params={
                "Global.use_cls": False,  # plates are upright; the angle classifier only costs time
                "Global.text_score": _MIN_TEXT_SCORE,
                # rapidocr warns on every frame without text, which is most frames of a quiet road.
                "Global.log_level": "error",
                "Det.model_path": str(detection_model),
                "Det.limit_type": "max",
                "Det.limit_side_len": self._tuning.detection_long_side,
                "Rec.model_path": str(recognition_model),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                "EngineConfig.onnxruntime.enable_cpu_mem_arena": self._tuning.memory_arena,
                # onnxruntime-gpu on a GPU machine: the CUDA provider, else the CPU one as installed.
                "EngineConfig.onnxruntime.use_cuda": cuda_available(),
            }
        )
        with flag_override(self._engine.cfg, "allow_objects", True):
            self._engine.cfg.Det.session = self.sessions["detection"]
            self._engine.cfg.Rec.session = self.sessions["recognition"]
        self._lock = threading.Lock()
        self._decoder = PlateDecoder(self._tuning.reading) if self._tuning.decoder == "formats" else None
        # rapidocr loads its sessions lazily; load them now so the first frame is not slow.
        warm_up = np.full((64, 256, 3), 255, dtype=np.uint8)
        cv2.putText(warm_up, "1ABC234", (8, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 2)
        with self._lock:
            self._run(warm_up)
            self._run(warm_up, detect=False)
            if self._tuning.split_pipeline:
                self._detect_then_recognise(warm_up)
        # Per-character CTC probabilities and runner-ups ride along with each recognised text (the
        # recogniser exists once the warm-up has loaded it).
        recogniser: Any = self._engine.text_rec
        recogniser.postprocess_op = _CtcCapture(recogniser.postprocess_op)
        logger.info("rapidocr plate reader ready (%s, %s)", detection_model.name, recognition_model.name)

    def read(self, image: npt.NDArray[np.uint8]) -> list[DetectedPlate]:
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise ValueError(f"expected a BGR image of shape (h, w, 3), got {image.shape}")
        with self._lock:
            if self._tuning.split_pipeline:
                boxes = self._detect_then_recognise(image)
            else:
                boxes = self._detect_and_recognise(image)
        lines = text_lines(boxes)
        plates = [plate for line in lines if (plate := self._read_line(image, line)) is not None]
        if self._tuning.two_row_lines:
            plates = self._with_two_row_plates(image, lines, plates)
        return without_duplicates(plates)

    def _with_two_row_plates(
        self, image: npt.NDArray[np.uint8], lines: list[list[TextBox]], plates: list[DetectedPlate]
    ) -> list[DetectedPlate]:
        """Pairs of stacked lines that read as a valid two-row plate replace the lines' own reads."""
        two_row_plates = []
        for upper, lower in stacked_pairs(lines):
            found = read_two_rows([upper, lower], self._decoder)
            if found is not None:
                bbox = two_row_bbox(found.boxes, image.shape[1], image.shape[0])
                two_row_plates.append(detected_plate(found.interpretation, bbox, (found.reading,)))
        kept = [p for p in plates if not any(_inside(p.bbox, two.bbox) for two in two_row_plates)]
        return [*two_row_plates, *kept]

    def _read_line(self, image: npt.NDArray[np.uint8], line: list[TextBox]) -> DetectedPlate | None:
        reread = (lambda span: self._reread(image, span)) if self._tuning.reread else None
        return read_line(line, (image.shape[1], image.shape[0]), self._decoder, reread)

    def recognise(self, crops: list[npt.NDArray[np.uint8]]) -> list[Recognised | None]:
        """Recognition alone on crops that each hold one text line (a plate face): text, score and
        lattice per crop, None where nothing was read. For the benches and tests of decoding."""
        with self._lock:
            output = self._engine.text_rec(TextRecInput(img=[np.ascontiguousarray(c) for c in crops]))
        texts, scores = output.txts or (), output.scores or ()
        return [
            Recognised(str(text).strip(), float(score), getattr(text, "lattice", None))
            if str(text).strip()
            else None
            for text, score in zip(texts, scores, strict=True)
        ]

    def read_region(
        self, image: npt.NDArray[np.uint8], region: tuple[int, int, int, int]
    ) -> DetectedPlate | None:
        """The plate inside a detector's box: text lines found and read on a crop of it alone.

        The crop is padded (a detector box may clip a character) and brought to a height where
        the text detector sees plate characters at a comfortable size. Of the lines inside, a valid
        reading wins, then the tallest line (plate characters are the largest print on a plate,
        above a state name or a dealer's legend), and two stacked lines of equal height are also
        read as one two-row plate. The reported box is the detector's.
        """
        crop = region_crop(image, region)
        if crop is None:
            return None
        with self._lock:
            # In a plate crop the characters fill most of the height; in a frame that is never plate text.
            boxes = self._detect_then_recognise(crop, max_text_height_share=1.0)
        lines = text_lines(boxes)
        candidates = [plate for line in lines if (plate := self._read_line(crop, line)) is not None]
        two_rows = read_two_rows(lines, self._decoder)
        if two_rows is not None:
            whole_crop = (0, 0, crop.shape[1], crop.shape[0])
            candidates.append(detected_plate(two_rows.interpretation, whole_crop, (two_rows.reading,)))
        if not candidates:
            return None
        best = max(candidates, key=lambda p: (p.valid, p.bbox[3] - p.bbox[1], p.confidence))
        others = [c for p in candidates if p is not best for c in p.candidates]
        return replace(best, bbox=region, candidates=(*best.candidates, *others))

    def _detect_and_recognise(self, image: npt.NDArray[np.uint8]) -> list[TextBox]:
        output = self._run(image)
        quads = getattr(output, "boxes", None)
        texts = getattr(output, "txts", None)
        scores = getattr(output, "scores", None)
        if quads is None or texts is None or scores is None:
            return []
        boxes = []
        for quad, text, score in zip(quads, texts, scores, strict=False):
            box = text_box(np.asarray(quad, dtype=np.float64), text, float(score))
            if box is not None and box.height <= image.shape[0] / 2:
                boxes.append(box)
        return boxes

    def _detect_then_recognise(
        self, image: npt.NDArray[np.uint8], max_text_height_share: float = 0.5
    ) -> list[TextBox]:
        height, width = image.shape[:2]
        detector = self._engine.text_det
        # The detector resizes the frame itself (once) and maps its boxes back to the frame; the
        # limit is per frame, hence set on every call (under the lock).
        detector.limit_side_len = max(
            32, round(max(width, height) * _detection_scale(width, height, self._tuning))
        )
        detected = detector(image)
        if detected.boxes is None or len(detected.boxes) == 0:
            return []
        quads = [np.asarray(quad, dtype=np.float64) for quad in detected.boxes]
        # Too small or too tall to be plate text: not worth a recognition.
        quads = [
            q for q in quads if MIN_TEXT_HEIGHT_PX <= slanted_height(q) <= height * max_text_height_share
        ]
        if not quads:
            return []
        crops = [get_rotate_crop_image(image, quad.astype(np.float32)) for quad in quads]
        recognised = self._engine.text_rec(TextRecInput(img=crops))
        texts = recognised.txts or ()
        boxes = []
        for quad, text, score in zip(quads, texts, recognised.scores, strict=False):
            if float(score) < _MIN_TEXT_SCORE:
                continue
            box = text_box(quad, text, float(score))
            if box is not None:
                boxes.append(box)
        return boxes

    def _reread(self, image: npt.NDArray[np.uint8], span: Span) -> Recognised | None:
        """Recognition alone on a tight crop of the span."""
        x1, y1, x2, y2 = span.bounds()
        pad = span.height * _REREAD_PADDING_IN_HEIGHTS
        left, top = max(0, int(x1 - pad)), max(0, int(y1 - pad))
        right, bottom = min(image.shape[1], int(x2 + pad) + 1), min(image.shape[0], int(y2 + pad) + 1)
        if right - left < 4 or bottom - top < 4:
            return None
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        with self._lock:
            if self._tuning.split_pipeline:
                output = self._engine.text_rec(TextRecInput(img=[crop]))
            else:
                output = self._run(crop, detect=False)
        texts = getattr(output, "txts", None)
        scores = getattr(output, "scores", None)
        if not texts or not scores or not str(texts[0]).strip():
            return None
        return Recognised(str(texts[0]).strip(), float(scores[0]), getattr(texts[0], "lattice", None))

    def _run(self, image: npt.NDArray[np.uint8], *, detect: bool = True) -> Any:
        # Every flag is passed on every call: rapidocr keeps the last call's flags as its new defaults.
        return self._engine(image, use_det=detect, use_cls=False, use_rec=True)


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return inner[0] >= outer[0] and inner[1] >= outer[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def cuda_available() -> bool:
    """Whether ONNX Runtime here can run on a GPU (the onnxruntime-gpu build, with a device)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def _bundled_models() -> tuple[Path, Path]:
    """The detection and recognition models inside the rapidocr wheel (newest version if several)."""
    models = Path(rapidocr.__file__).resolve().parent / "models"
    detection = sorted(models.glob("*det*.onnx"))
    recognition = sorted(models.glob("*rec*.onnx"))
    if not detection or not recognition:
        # Refuse rather than let rapidocr download: no network is reachable, nor should it be.
        raise RuntimeError(f"rapidocr models not found in {models}; reinstall the rapidocr wheel")
    return detection[-1], recognition[-1]


def _detection_scale(width: int, height: int, tuning: ReaderTuning) -> float:
    """How much to shrink a frame before text detection; 1.0 leaves it as it is."""
    scale = tuning.detection_long_side / max(width, height)
    if tuning.detection_pixels is not None:
        scale = min(scale, (tuning.detection_pixels / (width * height)) ** 0.5)
    return min(1.0, scale)
