"""Synthetic training scenes for the plate detector: varied plates in cluttered frames, with boxes.

The detector is trained on these only (never on real photos, which are our yardstick and personal
data). Variety is the point, so that the model learns "a plate" rather than one rendering:
- plate faces: the national layouts of synthetic.render_plate (BE current and pre-2010, NL, FR, DE,
  LU) in several typefaces, plus generic layouts of other sizes (2:1 North American, 3:1 and
  3.5:1 South American and older European, square two-line motorcycle and import plates), with
  random colours, borders and small top or bottom legends;
- geometry: several plates per scene, widths from 40 px to half the frame, perspective (yaw,
  pitch, roll), partial occlusion and plates cut by the frame edge;
- the camera: motion and focus blur, sensor noise, JPEG artefacts, night, infrared, glare, dirt;
- distractors: signs, adverts and shop fronts with text, lane markings, car bodies and lights.

Deterministic for a seed. Pure: no I/O beyond reading the machine's fonts.
"""

from __future__ import annotations

import io
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from anpr_detect.domain.boxes import intersection_over_union
from anpr_detect_training.camera import through_the_camera
from anpr_detect_training.synthetic import PLATE_FONT_PATH, render_plate

__all__ = ["PlateInScene", "TrainingScene", "plate_fonts", "render_training_scene"]

_FONT_DIRECTORIES = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts/opentype"))
# Typefaces that look nothing like plate lettering (symbols, maths, italics) are left out.
_FONT_EXCLUDED = ("math", "glyph", "italic", "oblique", "symbol", "dingbat", "z003", "d050000l")

_COUNTRIES = ("BE", "BE", "BE", "NL", "FR", "DE", "LU")
_LETTERS = string.ascii_uppercase
_DIGITS = string.digits

# Frame sizes of the cameras we expect, width x height.
_FRAME_SIZES = ((1280, 720), (1280, 720), (1920, 1080), (1024, 768), (800, 600), (1280, 960))
_MIN_PLATE_WIDTH_PX = 40
# A plate more than this share hidden (occluder or frame edge) is not labelled, and not drawn as such.
_MIN_VISIBLE_SHARE = 0.6


@dataclass(frozen=True)
class PlateInScene:
    text: str
    kind: str  # "BE", "NL", ... or "generic-2:1" etc.
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 of the visible plate, in frame pixels


@dataclass(frozen=True)
class TrainingScene:
    image: npt.NDArray[np.uint8]  # RGB
    plates: tuple[PlateInScene, ...]

    def jpeg(self, quality: int = 90) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(self.image, "RGB").save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()


@lru_cache(maxsize=1)
def plate_fonts() -> tuple[Path, ...]:
    """Bold-ish sans and mono TrueType/OpenType fonts installed on this machine, sorted."""
    found: set[Path] = set()
    for directory in _FONT_DIRECTORIES:
        if directory.is_dir():
            for path in directory.rglob("*"):
                name = path.name.lower()
                if path.suffix.lower() in {".ttf", ".otf"} and not any(x in name for x in _FONT_EXCLUDED):
                    found.add(path)
    if PLATE_FONT_PATH.is_file():
        found.add(PLATE_FONT_PATH)
    return tuple(sorted(found))


def render_training_scene(seed: int) -> TrainingScene:
    """One frame with 0..4 plates and their boxes; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    width, height = _FRAME_SIZES[int(rng.integers(len(_FRAME_SIZES)))]
    frame = _background(rng, width, height)
    _draw_distractors(rng, frame, int(rng.integers(1, 7)))

    plates: list[PlateInScene] = []
    # A few frames carry no plate at all, so that the model learns to say nothing.
    count = int(rng.choice([0, 1, 1, 1, 2, 2, 3, 4]))
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        placed = _place_plate(rng, frame, taken)
        if placed is not None:
            plates.append(placed)
            taken.append(placed.box)

    image = through_the_camera(rng, frame)
    return TrainingScene(image=image, plates=tuple(plates))


def _random_plate_text(rng: np.random.Generator, country: str) -> str:
    def pick(alphabet: str, n: int) -> str:
        return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))

    if country == "BE":
        if rng.random() < 0.2:
            return pick(_LETTERS, 3) + pick(_DIGITS, 3)
        return str(int(rng.integers(1, 3))) + pick(_LETTERS, 3) + pick(_DIGITS, 3)
    if country == "NL":
        return pick(_DIGITS, 2) + pick(_LETTERS, 3) + pick(_DIGITS, 1)
    if country == "FR":
        return pick(_LETTERS, 2) + pick(_DIGITS, 3) + pick(_LETTERS, 2)
    if country == "DE":
        return (
            pick(_LETTERS, int(rng.integers(1, 4)))
            + pick(_LETTERS, 2)
            + pick(_DIGITS, int(rng.integers(1, 5)))
        )
    if country == "LU":
        return pick(_LETTERS, 2) + pick(_DIGITS, 4)
    alphabet = _LETTERS + _DIGITS
    return pick(alphabet, int(rng.integers(4, 9)))


def _random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in rng.integers(low, high, 3))
    return red, green, blue


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    fonts = plate_fonts()
    if not fonts:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), size)


def _plate_face(rng: np.random.Generator) -> tuple[Image.Image, str, str]:
    """A plate face image, its text and its kind."""
    fonts = plate_fonts()
    if rng.random() < 0.6:
        country = _COUNTRIES[int(rng.integers(len(_COUNTRIES)))]
        text = _random_plate_text(rng, country)
        font = fonts[int(rng.integers(len(fonts)))] if fonts else None
        return render_plate(text, country, font=font), text, country
    return _generic_plate(rng)


def _generic_plate(rng: np.random.Generator) -> tuple[Image.Image, str, str]:
    # Width:height of the world's common plate sizes.
    aspect, kind = [
        (2.0, "generic-2:1"),
        (2.0, "generic-2:1"),
        (3.1, "generic-3:1"),
        (3.5, "generic-3.5:1"),
        (4.7, "generic-4.7:1"),
        (1.4, "generic-two-line"),
    ][int(rng.integers(6))]
    height = 120
    width = round(height * aspect)
    light = rng.random() < 0.75
    background = _random_colour(rng, 170, 256) if light else _random_colour(rng, 0, 90)
    ink = _random_colour(rng, 0, 90) if light else _random_colour(rng, 190, 256)
    face = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(face)
    if rng.random() < 0.7:
        draw.rectangle((0, 0, width - 1, height - 1), outline=ink, width=int(rng.integers(2, 7)))
    text = _random_plate_text(rng, "")
    rows = [text[: len(text) // 2], text[len(text) // 2 :]] if kind == "generic-two-line" else [text]
    if kind != "generic-two-line" and rng.random() < 0.3:
        # Separators as many layouts print them.
        cut = int(rng.integers(1, len(text)))
        rows = [text[:cut] + str(rng.choice(["-", " ", "·"])) + text[cut:]]
    legend_top = kind == "generic-2:1" and rng.random() < 0.7
    legend_bottom = kind == "generic-2:1" and rng.random() < 0.5
    band_top = height * (0.28 if legend_top else 0.1)
    band_bottom = height * (0.8 if legend_bottom else 0.9)
    row_height = (band_bottom - band_top) / len(rows)
    for index, row in enumerate(rows):
        font = _font(rng, 200)
        left, top, right, bottom = font.getbbox(row)
        glyphs = Image.new("RGB", (int(right - left) + 4, int(bottom - top) + 4), background)
        ImageDraw.Draw(glyphs).text((2 - left, 2 - top), row, font=font, fill=ink)
        target_height = max(4, int(row_height * 0.85))
        target_width = min(int(width * 0.9), max(4, round(glyphs.width * target_height / glyphs.height)))
        glyphs = glyphs.resize((target_width, target_height), Image.Resampling.LANCZOS)
        top_px = int(band_top + index * row_height + (row_height - target_height) / 2)
        face.paste(glyphs, ((width - target_width) // 2, top_px))
    words = ["CALIFORNIA", "TEXAS", "BRASIL", "ONTARIO", "SÃO PAULO", "dmv.gov", "SUNSHINE STATE"]
    for show, centre in ((legend_top, height * 0.14), (legend_bottom, height * 0.9)):
        if show:
            legend = words[int(rng.integers(len(words)))]
            draw.text((width / 2, centre), legend, font=_font(rng, int(height * 0.14)), fill=ink, anchor="mm")
    return face, text, kind


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Asphalt, walls, foliage: smooth gradients plus noise at a few scales."""
    base = rng.uniform(30, 220, 3).astype(np.float32)
    slope = rng.uniform(-60, 60, (2, 3)).astype(np.float32)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    pixels = base + ys * slope[0] + xs * slope[1]
    for cells in (4, 16, 64):
        noise = rng.uniform(-1, 1, (cells * height // width + 1, cells, 3)).astype(np.float32)
        pixels = pixels + cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) * float(
            rng.uniform(0, 30)
        )
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 15))):
        # Blocks, bodies and poles: the shapes a street is made of.
        x1, x2 = sorted(int(v) for v in rng.integers(0, width, 2))
        y1, y2 = sorted(int(v) for v in rng.integers(0, height, 2))
        shape = rng.random()
        fill = _random_colour(rng)
        if shape < 0.4:
            draw.rectangle((x1, y1, x2, y2), fill=fill)
        elif shape < 0.7:
            draw.rounded_rectangle((x1, y1, x2, y2), radius=int(min(x2 - x1, y2 - y1) * 0.2), fill=fill)
        elif shape < 0.85:
            draw.ellipse((x1, y1, x2, y2), fill=fill)
        else:
            draw.line((x1, y1, x2, y2), fill=fill, width=int(rng.integers(2, 12)))
    return image


def _draw_distractors(rng: np.random.Generator, frame: Image.Image, count: int) -> None:
    """Signs and adverts with text, some of them plate-shaped: the detector must not fire on them."""
    draw = ImageDraw.Draw(frame)
    words = [
        "STOP",
        "PARKING",
        "ZONE 30",
        "BAKKERIJ",
        "SALE -50%",
        "A12 Brussel",
        "OPEN",
        "TAXI",
        "Rue de la Loi 16",
        "0470 12 34 56",
        "www.example.be",
        "POLITIE",
        "E40",
        "P+R",
        "FRITUUR",
    ]
    for _ in range(count):
        text = words[int(rng.integers(len(words)))]
        size = int(rng.integers(12, max(13, frame.height // 8)))
        font = _font(rng, size)
        left, top, right, bottom = font.getbbox(text)
        x = int(rng.integers(0, max(1, frame.width - int(right - left))))
        y = int(rng.integers(0, max(1, frame.height - int(bottom - top))))
        pad = size // 3
        if rng.random() < 0.7:
            draw.rectangle(
                (x + left - pad, y + top - pad, x + right + pad, y + bottom + pad), fill=_random_colour(rng)
            )
        draw.text((x, y), text, font=font, fill=_random_colour(rng))


def _place_plate(
    rng: np.random.Generator, frame: Image.Image, taken: Sequence[tuple[int, int, int, int]]
) -> PlateInScene | None:
    face, text, kind = _plate_face(rng)
    dirt = rng.random() < 0.25
    if dirt:
        _dirty(rng, face)
    width, height = frame.size
    # Log-uniform width: small, distant plates are the hard and common case.
    plate_width = int(np.exp(rng.uniform(np.log(_MIN_PLATE_WIDTH_PX), np.log(width * 0.5))))
    plate_height = max(4, round(plate_width * face.height / face.width))
    cx = float(rng.uniform(-0.1, 1.1)) * width
    cy = float(rng.uniform(0.05, 1.05)) * height

    # Perspective: corners of the plate rectangle moved as yaw/pitch would, then a roll.
    half_w, half_h = plate_width / 2, plate_height / 2
    yaw = rng.uniform(-0.35, 0.35)
    pitch = rng.uniform(-0.25, 0.25)
    roll = np.radians(rng.uniform(-12, 12))
    corners = np.array(
        [
            [-half_w * (1 - yaw * 0.3), -half_h * (1 + yaw) * (1 - pitch * 0.3)],
            [half_w * (1 + yaw * 0.3), -half_h * (1 - yaw) * (1 - pitch * 0.3)],
            [half_w * (1 + yaw * 0.3) * (1 + pitch * 0.3), half_h * (1 - yaw)],
            [-half_w * (1 - yaw * 0.3) * (1 + pitch * 0.3), half_h * (1 + yaw)],
        ]
    )
    corners[:, 0] *= np.cos(yaw)
    rotation = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    quad = corners @ rotation.T + np.array([cx, cy])
    x1, y1 = np.floor(quad.min(axis=0)).astype(int)
    x2, y2 = np.ceil(quad.max(axis=0)).astype(int)
    full_area = float((x2 - x1) * (y2 - y1))
    vx1, vy1, vx2, vy2 = max(0, x1), max(0, y1), min(width, x2), min(height, y2)
    if vx2 - vx1 < 4 or vy2 - vy1 < 4 or (vx2 - vx1) * (vy2 - vy1) < _MIN_VISIBLE_SHARE * full_area:
        return None
    if any(intersection_over_union((vx1, vy1, vx2, vy2), other) > 0.0 for other in taken):
        return None

    car_extent = (x1 - 2 * (x2 - x1), y1 - (x2 - x1), x2 + 2 * (x2 - x1), y2 + (x2 - x1))
    if rng.random() < 0.5 and not any(intersection_over_union(car_extent, other) > 0.0 for other in taken):
        # Drawn only where it cannot cover a plate already placed, whose label would then lie.
        _draw_car_rear(rng, frame, (x1, y1, x2, y2))
    source = np.array([[0, 0], [face.width, 0], [face.width, face.height], [0, face.height]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, np.asarray(quad, dtype=np.float32))
    warped = cv2.warpPerspective(np.asarray(face), matrix, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((face.height, face.width), 255, np.uint8), matrix, (width, height))
    frame_pixels = np.asarray(frame).copy()
    frame_pixels[mask > 127] = warped[mask > 127]

    box = (int(vx1), int(vy1), int(vx2), int(vy2))
    if rng.random() < 0.2:
        # An occluder (a tow bar, a bicycle rack, a passer-by) over at most a quarter of the plate.
        ow = int((vx2 - vx1) * rng.uniform(0.1, 0.35))
        oh = int((vy2 - vy1) * rng.uniform(0.3, 1.0))
        ox = int(rng.integers(vx1, max(vx1 + 1, vx2 - ow)))
        oy = int(rng.integers(vy1, max(vy1 + 1, vy2 - oh)))
        frame_pixels[oy : oy + oh, ox : ox + ow] = _random_colour(rng)
    frame.paste(Image.fromarray(frame_pixels, "RGB"))
    return PlateInScene(text=text, kind=kind, box=box)


def _draw_car_rear(rng: np.random.Generator, frame: Image.Image, box: tuple[int, int, int, int]) -> None:
    x1, y1, x2, y2 = box
    plate_width = x2 - x1
    draw = ImageDraw.Draw(frame)
    half = plate_width * rng.uniform(1.5, 2.2)
    cx = (x1 + x2) / 2 + rng.uniform(-0.3, 0.3) * plate_width
    body = (
        cx - half,
        y1 - plate_width * rng.uniform(0.5, 1.0),
        cx + half,
        y2 + plate_width * rng.uniform(0.2, 0.5),
    )
    colour = _random_colour(rng, 10, 240)
    draw.rounded_rectangle(body, radius=max(1, int(plate_width * 0.2)), fill=colour)
    light_height = plate_width * 0.15
    light_top = body[1] + (y1 - body[1]) * 0.3
    for left in (body[0] + 4, body[2] - 4 - half * 0.35):
        draw.rectangle(
            (left, light_top, left + half * 0.35, light_top + light_height),
            fill=_random_colour(rng, 120, 256),
        )


def _dirty(rng: np.random.Generator, face: Image.Image) -> None:
    draw = ImageDraw.Draw(face)
    for _ in range(int(rng.integers(3, 30))):
        x, y = int(rng.integers(face.width)), int(rng.integers(face.height))
        radius = int(rng.integers(1, max(2, face.height // 8)))
        shade = int(rng.integers(60, 150))
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(shade, shade - 10, shade - 20))
