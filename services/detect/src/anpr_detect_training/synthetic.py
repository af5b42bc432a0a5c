"""Synthetic number plates and road scenes, rendered with Pillow.

They feed the embedded demo and the reader's tests, so that neither needs real photos of real
vehicles (personal data) nor any download. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from anpr_core.plates import normalise_plate
from anpr_detect.domain.grammar import interpret

__all__ = [
    "PLATE_FONT_PATH",
    "SampleFrame",
    "render_plate",
    "render_scene",
    "render_scene_with_box",
    "sample_frames",
]

logger = logging.getLogger(__name__)

# A bold sans close enough to the plate typefaces; when it is missing, Pillow's built-in scalable
# font (Pillow >= 10.1) stands in, so the package has no font dependency.
PLATE_FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

# EU plate: 520 x 110 mm, rendered at 2 px/mm so that downscaling into a scene stays crisp.
_PX_PER_MM = 2
_PLATE_MM = (520, 110)
_EU_BAND_MM = 44
_BORDER_MM = 2
_CHARACTER_HEIGHT_MM = 75
_TEXT_MARGIN_MM = 8

_EU_BLUE = (0, 51, 153)
_EU_YELLOW = (255, 204, 0)
_WHITE = (255, 255, 255)
_BLACK = (20, 20, 20)
_BELGIAN_RED = (166, 25, 46)  # rubine red, #A6192E
_DUTCH_YELLOW = (247, 181, 0)


@dataclass(frozen=True)
class _PlateStyle:
    background: tuple[int, int, int]
    characters: tuple[int, int, int]
    band_code: str  # the distinguishing sign under the EU stars; "" for no EU band
    right_band: bool = False  # FR plates carry a blue regional band on the right


_STYLES: dict[str, _PlateStyle] = {
    "BE": _PlateStyle(_WHITE, _BELGIAN_RED, "B"),
    "NL": _PlateStyle(_DUTCH_YELLOW, _BLACK, "NL"),
    "FR": _PlateStyle(_WHITE, _BLACK, "F", right_band=True),
    "DE": _PlateStyle(_WHITE, _BLACK, "D"),
    "LU": _PlateStyle(_DUTCH_YELLOW, _BLACK, "L"),
}
_DEFAULT_STYLE = _PlateStyle(_WHITE, _BLACK, "")

# Belgian plates of the 1973-2010 layouts were issued without the EU band.
_BE_PRE_2010_LENGTH = 6

# Plate width in a scene, in pixels: from a distant car up to a close one in a 1280 px frame.
_SCENE_PLATE_WIDTH = (160, 320)
_JPEG_QUALITY = 88

# The bundled demo sample: distinct Belgian plates; the first one is on the demo hotlist.
_SAMPLE_PLATES = ("1ABC234", "2XYZ789", "1KLM456", "1HTP072", "2DRV318", "1GNE905", "ABC123")
_SAMPLE_SEED_BASE = 20_240


@dataclass(frozen=True)
class SampleFrame:
    plate: str  # normalised text, e.g. "1ABC234"
    image: bytes  # JPEG bytes
    width: int
    height: int


def render_plate(text: str, country: str = "BE", *, font: Path | None = None) -> Image.Image:
    """Render a plate face: national colours, EU band, characters in the national display form.

    `font` is a TrueType file for the characters (default: PLATE_FONT_PATH); the detector's
    training scenes vary it so that the model does not learn one typeface.
    """
    plate_text = normalise_plate(text)
    style = _STYLES.get(country, _DEFAULT_STYLE)
    if country == "BE" and len(plate_text) == _BE_PRE_2010_LENGTH:
        style = _PlateStyle(style.background, style.characters, "")

    width, height = (_mm(_PLATE_MM[0]), _mm(_PLATE_MM[1]))
    plate = Image.new("RGB", (width, height), style.background)
    draw = ImageDraw.Draw(plate)
    border = _mm(_BORDER_MM)
    draw.rectangle((0, 0, width - 1, height - 1), outline=style.characters, width=border)

    text_left = border + _mm(_TEXT_MARGIN_MM)
    text_right = width - border - _mm(_TEXT_MARGIN_MM)
    if style.band_code:
        band_right = border + _mm(_EU_BAND_MM)
        _draw_eu_band(draw, (border, border, band_right, height - border - 1), style.band_code)
        text_left = band_right + _mm(_TEXT_MARGIN_MM)
    if style.right_band:
        band_left = width - border - _mm(_EU_BAND_MM)
        draw.rectangle((band_left, border, width - border - 1, height - border - 1), fill=_EU_BLUE)
        text_right = band_left - _mm(_TEXT_MARGIN_MM)

    characters = _render_characters(_display_form(plate_text, country), style, font)
    fitted = _fit_characters(characters, text_right - text_left, _mm(_CHARACTER_HEIGHT_MM))
    left = text_left + (text_right - text_left - fitted.width) // 2
    top = (height - fitted.height) // 2
    plate.paste(fitted, (left, top))
    return plate


def render_scene(
    plate: str, *, seed: int, width: int = 1280, height: int = 720, country: str = "BE"
) -> bytes:
    """A JPEG road-ish scene with the plate on a car body, fully visible; deterministic for a seed."""
    image, _ = render_scene_with_box(plate, seed=seed, width=width, height=height, country=country)
    return image


def render_scene_with_box(
    plate: str,
    *,
    seed: int,
    width: int = 1280,
    height: int = 720,
    country: str = "BE",
    face: Image.Image | None = None,
) -> tuple[bytes, tuple[int, int, int, int]]:
    """Like render_scene, also returning where the plate was pasted, as (x1, y1, x2, y2) pixels.

    `face`: a plate face rendered elsewhere (e.g. a two-row or foreign plate) instead of
    render_plate(plate, country)."""
    rng = np.random.default_rng(seed)
    plate_face = face if face is not None else render_plate(plate, country)
    plate_width = int(rng.integers(_SCENE_PLATE_WIDTH[0], _SCENE_PLATE_WIDTH[1] + 1))
    plate_width = min(plate_width, width - 2)
    plate_height = max(1, round(plate_width * plate_face.height / plate_face.width))
    if plate_height > height - 2:
        raise ValueError(f"a {width}x{height} scene is too small for a {plate_width} px wide plate")

    margin = 4
    x1 = int(rng.integers(margin, max(margin + 1, width - plate_width - margin)))
    lowest_top = max(margin + 1, height - plate_height - margin)
    y1 = int(rng.integers(min(height // 3, lowest_top - 1), lowest_top))
    box = (x1, y1, x1 + plate_width, y1 + plate_height)

    scene = _road_background(rng, width, height)
    _draw_car(scene, rng, box)
    scaled = plate_face.resize((plate_width, plate_height), Image.Resampling.LANCZOS)
    scene.paste(scaled, (x1, y1))

    # Camera softness and sensor noise, so the reader is not tested on perfect pixels.
    blur_radius = float(rng.uniform(0.0, 0.8))
    if blur_radius > 0.1:
        scene = scene.filter(ImageFilter.GaussianBlur(blur_radius))
    pixels = np.asarray(scene, dtype=np.float32) * np.float32(rng.uniform(0.8, 1.1))
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(4.0)
    scene = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    buffer = io.BytesIO()
    scene.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue(), box


def sample_frames() -> list[SampleFrame]:
    """The bundled demo sample: distinct Belgian plates, deterministic, "1ABC234" first."""
    return list(_sample_frames())


@lru_cache(maxsize=1)
def _sample_frames() -> tuple[SampleFrame, ...]:
    frames = []
    for index, plate in enumerate(_SAMPLE_PLATES):
        image = render_scene(plate, seed=_SAMPLE_SEED_BASE + index)
        frames.append(SampleFrame(plate=plate, image=image, width=1280, height=720))
    logger.debug("rendered %d sample frames", len(frames))
    return tuple(frames)


def _mm(millimetres: int) -> int:
    return millimetres * _PX_PER_MM


def _display_form(text: str, country: str) -> str:
    interpretation = interpret([(text, 1.0)])
    if interpretation is not None and interpretation.valid and interpretation.country == country:
        return interpretation.formatted
    return text


def _plate_font(size: int, path: Path | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    chosen = path or PLATE_FONT_PATH
    if chosen.is_file():
        return ImageFont.truetype(str(chosen), size)
    return ImageFont.load_default(size=size)


def _render_characters(text: str, style: _PlateStyle, font_path: Path | None = None) -> Image.Image:
    """The characters alone, cropped to their ink, on the plate background."""
    font = _plate_font(200, font_path)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("RGB", (int(right - left) + 8, int(bottom - top) + 8), style.background)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, font=font, fill=style.characters)
    return canvas


def _fit_characters(characters: Image.Image, max_width: int, target_height: int) -> Image.Image:
    # Plate typefaces are narrow; squeeze horizontally rather than shrink when the line is too long.
    scale = target_height / characters.height
    fitted_width = min(max_width, round(characters.width * scale))
    return characters.resize((fitted_width, target_height), Image.Resampling.LANCZOS)


def _draw_eu_band(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], code: str) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, fill=_EU_BLUE)
    centre_x = (left + right) / 2
    centre_y = top + (bottom - top) * 0.3
    ring = (right - left) * 0.3
    star = max(2.0, ring * 0.16)
    for index in range(12):
        angle = 2 * math.pi * index / 12
        x = centre_x + ring * math.cos(angle)
        y = centre_y + ring * math.sin(angle)
        draw.ellipse((x - star, y - star, x + star, y + star), fill=_EU_YELLOW)
    font = _plate_font(round((bottom - top) * 0.32))
    draw.text((centre_x, top + (bottom - top) * 0.78), code, font=font, fill=_WHITE, anchor="mm")


def _road_background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    horizon = int(height * rng.uniform(0.25, 0.45))
    rows = np.arange(height, dtype=np.float32)[:, None]
    sky_top = rng.uniform(120, 200, 3).astype(np.float32)
    sky_bottom = rng.uniform(170, 235, 3).astype(np.float32)
    road = np.float32(rng.uniform(70, 120))
    sky = sky_top + (sky_bottom - sky_top) * (rows / max(horizon, 1))
    # The road darkens towards the camera a little, as asphalt does under a low sun.
    ground = road * (1.0 - 0.25 * (rows - horizon) / max(height - horizon, 1))
    column = np.where(rows < horizon, sky, ground).astype(np.uint8)
    # One column, repeated across: the scene-wide sensor noise is added at the end.
    image = Image.fromarray(
        np.ascontiguousarray(np.broadcast_to(column[:, None, :], (height, width, 3))), "RGB"
    )

    draw = ImageDraw.Draw(image)
    # Dashed lane markings converging on the horizon.
    vanishing_x = width * rng.uniform(0.3, 0.7)
    for lane_x in (width * 0.15, width * 0.85):
        for step in range(8):
            t0, t1 = step / 8, (step + 0.5) / 8
            y0, y1 = horizon + (height - horizon) * t0, horizon + (height - horizon) * t1
            x0 = vanishing_x + (lane_x - vanishing_x) * t0
            x1 = vanishing_x + (lane_x - vanishing_x) * t1
            draw.line((x0, y0, x1, y1), fill=(225, 225, 215), width=max(1, int(6 * t1)))
    # Some roadside blocks (buildings, hedges) above the horizon.
    for _ in range(int(rng.integers(2, 6))):
        block_left = int(rng.integers(0, width))
        block_width = int(rng.integers(width // 12, width // 4))
        block_top = int(rng.integers(horizon // 4, max(horizon // 4 + 1, horizon - 10)))
        shade = tuple(int(value) for value in rng.integers(40, 160, 3))
        draw.rectangle((block_left, block_top, block_left + block_width, horizon), fill=shade)
    return image


def _draw_car(scene: Image.Image, rng: np.random.Generator, plate_box: tuple[int, int, int, int]) -> None:
    """A car rear around the plate: body, rear window, lights and wheels (partly off-frame is fine)."""
    x1, y1, x2, y2 = plate_box
    plate_width = x2 - x1
    centre_x = (x1 + x2) / 2 + rng.uniform(-0.3, 0.3) * plate_width
    body_half_width = plate_width * rng.uniform(1.6, 1.9)
    body_top = y1 - plate_width * rng.uniform(0.7, 1.0)
    body_bottom = y2 + plate_width * rng.uniform(0.25, 0.45)
    body = (centre_x - body_half_width, body_top, centre_x + body_half_width, body_bottom)
    colour = tuple(int(value) for value in rng.integers(20, 230, 3))
    draw = ImageDraw.Draw(scene)

    wheel_width = body_half_width * 0.35
    for wheel_left in (body[0] + body_half_width * 0.15, body[2] - body_half_width * 0.15 - wheel_width):
        draw.rectangle(
            (
                wheel_left,
                body_bottom - plate_width * 0.2,
                wheel_left + wheel_width,
                body_bottom + plate_width * 0.2,
            ),
            fill=(15, 15, 15),
        )
    draw.rounded_rectangle(body, radius=int(plate_width * 0.25), fill=colour)
    window_top = body_top - plate_width * 0.6
    draw.polygon(
        [
            (body[0] + body_half_width * 0.3, body_top),
            (body[2] - body_half_width * 0.3, body_top),
            (body[2] - body_half_width * 0.5, window_top),
            (body[0] + body_half_width * 0.5, window_top),
        ],
        fill=(35, 40, 50),
    )
    light_top = body_top + (y1 - body_top) * 0.25
    light_bottom = light_top + plate_width * 0.18
    light_width = body_half_width * 0.3
    draw.rectangle((body[0] + 8, light_top, body[0] + 8 + light_width, light_bottom), fill=(170, 20, 20))
    draw.rectangle((body[2] - 8 - light_width, light_top, body[2] - 8, light_bottom), fill=(170, 20, 20))
    # A darker recess behind the plate, as on most bumpers.
    recess = plate_width * 0.06
    draw.rectangle(
        (x1 - recess, y1 - recess, x2 + recess, y2 + recess),
        fill=tuple(max(0, value - 40) for value in colour),
    )
