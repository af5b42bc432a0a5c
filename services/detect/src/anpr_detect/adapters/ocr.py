"""Offline plate reader on rapidocr 3.x (PP-OCR ONNX models shipped inside the rapidocr wheel).

Foundation approach, until a trained plate detector exists: PP-OCR text detection and recognition
run on the whole frame; text lines that look like a plate (shape, 4..10 alphanumerics) are kept,
pieces of one plate split into adjacent boxes are merged, and the plate grammar decides what each
reading means. The models are loaded from the wheel's own folder by explicit path, so rapidocr never
reaches for its download code: the service must work on an air-gapped police network.
"""

from __future__ import annotations

import os

# Must be set before onnxruntime is first imported (rapidocr imports it): no telemetry leaves the host.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
import rapidocr
from PIL import Image, UnidentifiedImageError
from rapidocr.ch_ppocr_rec import TextRecInput
from rapidocr.utils.process_img import get_rotate_crop_image

from anpr_core.plates import normalise_plate
from anpr_detect.domain.ctc import CharacterReading, greedy_characters, top_k_readings
from anpr_detect.domain.grammar import PlateInterpretation, interpret
from anpr_detect.domain.limits import DEFAULT_MAX_IMAGE_PIXELS

__all__ = [
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DetectedPlate",
    "ImageTooLarge",
    "PlateReader",
    "RapidOcrPlateReader",
    "ReaderTuning",
    "decode_image",
]

logger = logging.getLogger(__name__)

# Detection runs on the frame scaled so that its longer side is at most this: 1280x720 becomes
# 960x540, where a 160 px plate still has ~18 px characters, and detection (the dominant cost)
# takes about half the time of full resolution.
_DETECTION_LONG_SIDE = 960
_DETECTION_PIXELS = 960 * 540
# rapidocr drops readings below this; kept low because the grammar, not the OCR score alone, decides.
_MIN_TEXT_SCORE = 0.3
# Readings of a span kept as candidates: the recogniser's best path and its next most probable
# strings (a character swapped for the runner-up at the same timestep).
_CTC_TOP_K = 5

# Plate text lines: "1-ABC-234" is about 5 times as wide as tall, a split piece ("ABC") about 2,
# a two-row or square plate line less; anything beyond 15 is a line of prose or a banner.
_MIN_ASPECT = 1.2
_MAX_ASPECT = 15.0
_MIN_TEXT_HEIGHT_PX = 8
_MIN_PLATE_CHARACTERS = 4
_MAX_PLATE_CHARACTERS = 10

# Two boxes belong to the same plate line when they overlap vertically by this share of the smaller
# height and the gap between them is at most this many character heights. The EU band's "B" is
# printed at about half the plate characters' height, hence the loose height ratio.
_MIN_VERTICAL_OVERLAP = 0.5
_MAX_GAP_IN_HEIGHTS = 1.2
_MAX_HEIGHT_RATIO = 2.5
_MAX_BOXES_PER_LINE = 6

# A text box hugs the characters; the plate itself extends about this many character heights
# beyond them on every side.
_PLATE_PADDING_IN_HEIGHTS = 0.2
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


@dataclass(frozen=True)
class DetectedPlate:
    text: str
    formatted: str
    country: str
    valid: bool
    confidence: float
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels
    candidates: tuple[tuple[str, float], ...]  # OCR readings with confidences, best first
    # The recogniser's CTC probability of each character of the reading the plate came from (its
    # first candidate), separators included; empty where the engine gave none.
    character_probabilities: tuple[float, ...] = ()


class PlateReader(Protocol):
    def read(self, image: npt.NDArray[np.uint8]) -> list[DetectedPlate]:
        """Read the plates in a BGR uint8 image, as from cv2.imdecode; best first."""
        ...


class ImageTooLarge(ValueError):
    """The image declares more pixels than are decoded; refused from its header, before decoding."""


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's or PNG's header alone (nothing is decoded)."""
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError("not a decodable JPEG/PNG image") from error
    return width, height


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> npt.NDArray[np.uint8]:
    """Decode JPEG/PNG bytes into a BGR uint8 image. An image that declares more than `max_pixels`
    pixels is refused (ImageTooLarge) from its header, so a decompression bomb (a few hundred
    kilobytes declaring 8192x8192 16-bit RGBA) never gets its gigabyte allocated."""
    if not data:
        raise ValueError("not a decodable JPEG/PNG image")
    width, height = image_size(data)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image declares {width}x{height} = {width * height} pixels; at most {max_pixels} "
            "are decoded (ANPR_MAX_IMAGE_PIXELS)"
        )
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise ValueError("not a decodable JPEG/PNG image") from error
    if image is None or image.size == 0:
        raise ValueError("not a decodable JPEG/PNG image")
    return np.ascontiguousarray(image, dtype=np.uint8)


class _CtcText(str):
    """A recognised text that also carries its characters' CTC readings (see _CtcCapture)."""

    characters: tuple[CharacterReading, ...] = ()


class _CtcCapture:
    """Wraps rapidocr's CTC decoder: the same texts and scores, each text carrying the greedy
    path's per-character probabilities and runner-ups from the same softmax output."""

    def __init__(self, decode: Any) -> None:
        self._decode = decode
        self.character: list[str] = list(decode.character)

    def __call__(self, preds: Any, return_word_box: bool = False, **kwargs: Any) -> Any:
        lines, words = self._decode(preds, return_word_box, **kwargs)
        enriched = []
        for row, (text, score) in zip(preds, lines, strict=True):
            characters = greedy_characters(np.asarray(row), self.character)
            captured = _CtcText(text)
            if "".join(c.character for c in characters) == text:
                captured.characters = characters
            enriched.append((captured, score))
        return enriched, words


@dataclass(frozen=True)
class _TextBox:
    """One rapidocr text line: its reading and its axis-aligned extent."""

    text: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    height: float  # along the text's own slant, not the axis-aligned extent
    characters: tuple[CharacterReading, ...] = ()  # the text's CTC readings, when known

    @property
    def width(self) -> float:
        return self.x2 - self.x1


@dataclass(frozen=True)
class _Span:
    """Consecutive boxes of one line read as one candidate plate."""

    boxes: tuple[_TextBox, ...]

    @property
    def raw(self) -> str:
        # A space keeps the boundary, which the grammar uses (e.g. to split a German plate).
        return " ".join(box.text for box in self.boxes)

    @property
    def score(self) -> float:
        # Weighted by the characters each box contributes, so a stray one-letter box weighs little.
        weights = [max(1, len(normalise_plate(box.text))) for box in self.boxes]
        return sum(box.score * weight for box, weight in zip(self.boxes, weights, strict=True)) / sum(weights)

    @property
    def height(self) -> float:
        return max(box.height for box in self.boxes)

    @property
    def characters(self) -> tuple[CharacterReading, ...]:
        """The CTC readings of `raw`, the joining spaces certain; empty unless every box has them."""
        if not all(box.characters for box in self.boxes):
            return ()
        joined: list[CharacterReading] = []
        for index, box in enumerate(self.boxes):
            if index:
                joined.append(CharacterReading(" ", 1.0, ()))
            joined.extend(box.characters)
        return tuple(joined)

    def alternatives(self) -> list[tuple[str, float]]:
        """The recogniser's next most probable readings of the span: one character swapped for
        its runner-up (one, like the grammar's own look-alike repair)."""
        return top_k_readings(self.characters, k=_CTC_TOP_K, max_changes=1)[1:]

    def bounds(self) -> tuple[float, float, float, float]:
        return (
            min(box.x1 for box in self.boxes),
            min(box.y1 for box in self.boxes),
            max(box.x2 for box in self.boxes),
            max(box.y2 for box in self.boxes),
        )


class RapidOcrPlateReader:
    """PlateReader on rapidocr. Thread-safe; calls are serialised (the engine keeps per-call state)."""

    def __init__(self, threads: int = 2, tuning: ReaderTuning | None = None) -> None:
        self._tuning = tuning or ReaderTuning()
        detection_model, recognition_model = _bundled_models()
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
        self._lock = threading.Lock()
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
        plates = [plate for line in _lines(boxes) if (plate := self._read_line(image, line)) is not None]
        return _without_duplicates(plates)

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
        crop = _region_crop(image, region)
        if crop is None:
            return None
        with self._lock:
            # In a plate crop the characters fill most of the height; in a frame that is never plate text.
            boxes = self._detect_then_recognise(crop, max_text_height_share=1.0)
        lines = _lines(boxes)
        candidates = [plate for line in lines if (plate := self._read_line(crop, line)) is not None]
        two_rows = _two_row_reading(lines)
        if two_rows is not None:
            interpretation = interpret([two_rows])
            if interpretation is not None and interpretation.valid:
                whole_crop = (0, 0, crop.shape[1], crop.shape[0])
                candidates.append(_detected_plate(interpretation, whole_crop, (two_rows,)))
        if not candidates:
            return None
        best = max(candidates, key=lambda p: (p.valid, p.bbox[3] - p.bbox[1], p.confidence))
        others = [c for p in candidates if p is not best for c in p.candidates]
        return replace(best, bbox=region, candidates=(*best.candidates, *others))

    def _detect_and_recognise(self, image: npt.NDArray[np.uint8]) -> list[_TextBox]:
        output = self._run(image)
        quads = getattr(output, "boxes", None)
        texts = getattr(output, "txts", None)
        scores = getattr(output, "scores", None)
        if quads is None or texts is None or scores is None:
            return []
        boxes = []
        for quad, text, score in zip(quads, texts, scores, strict=False):
            box = _text_box(np.asarray(quad, dtype=np.float64), text, float(score))
            if box is not None and box.height <= image.shape[0] / 2:
                boxes.append(box)
        return boxes

    def _detect_then_recognise(
        self, image: npt.NDArray[np.uint8], max_text_height_share: float = 0.5
    ) -> list[_TextBox]:
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
            q for q in quads if _MIN_TEXT_HEIGHT_PX <= _slanted_height(q) <= height * max_text_height_share
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
            box = _text_box(quad, text, float(score))
            if box is not None:
                boxes.append(box)
        return boxes

    def _read_line(self, image: npt.NDArray[np.uint8], line: Sequence[_TextBox]) -> DetectedPlate | None:
        """The most plausible plate among the spans of one text line, or None."""
        best: tuple[PlateInterpretation, _Span, tuple[str, float]] | None = None
        readings: list[tuple[str, float]] = []
        for span in _spans(line):
            if not _plate_like(span):
                continue
            reading = (span.raw, span.score)
            alternatives = span.alternatives()
            readings.extend((reading, *alternatives))
            interpretation = interpret([reading], alternatives)
            if interpretation is None or not _worth_reporting(interpretation):
                continue
            if best is None or _rank(interpretation) > _rank(best[0]):
                best = (interpretation, span, _source_reading(interpretation, [reading, *alternatives]))
        if best is None:
            return None

        interpretation, span, winning_reading = best
        if not interpretation.valid and self._tuning.reread:
            reread = self._reread(image, span)
            if reread is not None:
                readings.append(reread)
                reread_interpretation = interpret([reread])
                if reread_interpretation is not None and reread_interpretation.valid:
                    interpretation, winning_reading = reread_interpretation, reread
        others = sorted(
            (r for r in dict.fromkeys(readings) if r != winning_reading), key=lambda r: r[1], reverse=True
        )
        bbox = _padded_bbox(span, image.shape[1], image.shape[0])
        probabilities = _character_probabilities(span, winning_reading[0])
        return _detected_plate(interpretation, bbox, (winning_reading, *others), probabilities)

    def _reread(self, image: npt.NDArray[np.uint8], span: _Span) -> tuple[str, float] | None:
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
        return str(texts[0]).strip(), float(scores[0])

    def _run(self, image: npt.NDArray[np.uint8], *, detect: bool = True) -> Any:
        # Every flag is passed on every call: rapidocr keeps the last call's flags as its new defaults.
        return self._engine(image, use_det=detect, use_cls=False, use_rec=True)


def _detected_plate(
    interpretation: PlateInterpretation,
    bbox: tuple[int, int, int, int],
    candidates: tuple[tuple[str, float], ...],
    character_probabilities: tuple[float, ...] = (),
) -> DetectedPlate:
    return DetectedPlate(
        text=interpretation.text,
        formatted=interpretation.formatted,
        country=interpretation.country,
        valid=interpretation.valid,
        confidence=interpretation.confidence,
        bbox=bbox,
        candidates=candidates,
        character_probabilities=character_probabilities,
    )


def _source_reading(
    interpretation: PlateInterpretation, readings: Sequence[tuple[str, float]]
) -> tuple[str, float]:
    """The reading an interpretation came from: the first whose normalised text holds it."""
    for reading in readings:
        if interpretation.text in normalise_plate(reading[0]):
            return reading
    return readings[0]


def _character_probabilities(span: _Span, reading: str) -> tuple[float, ...]:
    """Each character's CTC probability in `reading`: the best path's, or the runner-up's where
    the reading took it."""
    characters = span.characters
    if len(characters) != len(reading):
        return ()
    return tuple(
        c.probability if c.character == r else dict(c.alternatives).get(r, 0.0)
        for c, r in zip(characters, reading, strict=True)
    )


# A detector box is widened by these shares of its size before the text detector looks inside.
_REGION_PADDING = (0.08, 0.15)
# Crops are scaled to this height for text detection: small plates get characters of ~25 px.
_REGION_HEIGHT = 96
_REGION_MAX_WIDTH = 640


def _region_crop(
    image: npt.NDArray[np.uint8], region: tuple[int, int, int, int]
) -> npt.NDArray[np.uint8] | None:
    x1, y1, x2, y2 = region
    pad_x, pad_y = (x2 - x1) * _REGION_PADDING[0], (y2 - y1) * _REGION_PADDING[1]
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right = min(image.shape[1], int(np.ceil(x2 + pad_x)))
    bottom = min(image.shape[0], int(np.ceil(y2 + pad_y)))
    if right - left < 4 or bottom - top < 4:
        return None
    crop = image[top:bottom, left:right]
    scale = min(_REGION_HEIGHT / crop.shape[0], _REGION_MAX_WIDTH / crop.shape[1])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)


def _two_row_reading(lines: Sequence[Sequence[_TextBox]]) -> tuple[str, float] | None:
    """The two tallest lines joined top to bottom, when they are stacked and of similar height."""
    if len(lines) < 2:
        return None
    spans = sorted((_Span(tuple(line)) for line in lines), key=lambda span: span.height, reverse=True)[:2]
    upper, lower = sorted(spans, key=lambda span: span.bounds()[1])
    if max(upper.height, lower.height) > 1.6 * min(upper.height, lower.height):
        return None
    if upper.bounds()[3] > lower.bounds()[1] + 0.3 * lower.height:
        return None  # side by side, not stacked
    return f"{upper.raw} {lower.raw}", min(upper.score, lower.score)


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


def _slanted_height(quad: npt.NDArray[np.float64]) -> float:
    # Corners come clockwise from top-left; the mean of the two side edges is the slanted height.
    return float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2


def _text_box(quad: npt.NDArray[np.float64], recognised: str, score: float) -> _TextBox | None:
    text = str(recognised).strip()
    characters: tuple[CharacterReading, ...] = getattr(recognised, "characters", ())
    if characters:
        # Stripped as the text is: the spaces the recogniser put at either end go.
        start = len(recognised) - len(recognised.lstrip())
        characters = characters[start : start + len(text)]
    if quad.shape != (4, 2) or not text:
        return None
    height = _slanted_height(quad)
    if height < _MIN_TEXT_HEIGHT_PX:
        return None
    return _TextBox(
        text=text,
        score=score,
        x1=float(quad[:, 0].min()),
        y1=float(quad[:, 1].min()),
        x2=float(quad[:, 0].max()),
        y2=float(quad[:, 1].max()),
        height=float(height),
        characters=characters,
    )


def _lines(boxes: Sequence[_TextBox]) -> list[list[_TextBox]]:
    """Group boxes into lines of adjacent boxes, left to right; every box ends up in one line."""
    lines: list[list[_TextBox]] = []
    for box in sorted(boxes, key=lambda b: b.x1):
        for line in lines:
            if len(line) < _MAX_BOXES_PER_LINE and _continues(line[-1], box):
                line.append(box)
                break
        else:
            lines.append([box])
    return lines


def _continues(left: _TextBox, right: _TextBox) -> bool:
    smaller, larger = sorted((left.height, right.height))
    overlap = min(left.y2, right.y2) - max(left.y1, right.y1)
    gap = right.x1 - left.x2
    return (
        larger <= smaller * _MAX_HEIGHT_RATIO
        and overlap >= _MIN_VERTICAL_OVERLAP * min(left.y2 - left.y1, right.y2 - right.y1)
        and gap <= _MAX_GAP_IN_HEIGHTS * larger
    )


def _spans(line: Sequence[_TextBox]) -> list[_Span]:
    return [
        _Span(tuple(line[start:end])) for start in range(len(line)) for end in range(start + 1, len(line) + 1)
    ]


def _plate_like(span: _Span) -> bool:
    characters = len(normalise_plate(span.raw))
    x1, _, x2, _ = span.bounds()
    aspect = (x2 - x1) / span.height
    return (
        _MIN_PLATE_CHARACTERS <= characters <= _MAX_PLATE_CHARACTERS and _MIN_ASPECT <= aspect <= _MAX_ASPECT
    )


def _worth_reporting(interpretation: PlateInterpretation) -> bool:
    # An unknown format is still reported (foreign plates matter), but not a word: every plate
    # layout in use carries digits, a shop sign or a slogan usually does not.
    return interpretation.valid or any(character.isdigit() for character in interpretation.text)


def _rank(interpretation: PlateInterpretation) -> tuple[bool, float, int]:
    return interpretation.valid, interpretation.confidence, len(interpretation.text)


def _padded_bbox(span: _Span, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = span.bounds()
    pad = span.height * _PLATE_PADDING_IN_HEIGHTS
    return (
        max(0, int(round(x1 - pad))),
        max(0, int(round(y1 - pad))),
        min(width, int(round(x2 + pad))),
        min(height, int(round(y2 + pad))),
    )


def _without_duplicates(plates: Sequence[DetectedPlate]) -> list[DetectedPlate]:
    """Best first; the same text read twice in overlapping places is one plate."""
    kept: list[DetectedPlate] = []
    for plate in sorted(plates, key=lambda p: p.confidence, reverse=True):
        if not any(other.text == plate.text and _overlaps(other.bbox, plate.bbox) for other in kept):
            kept.append(plate)
    return kept


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
