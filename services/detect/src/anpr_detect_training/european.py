"""European plate faces for the synthetic evaluation set: each country's look, one row or two.

Colours, the band with the country's sign (EU members, and the national bands of the others but
Switzerland), the French and Italian right-hand band, one- and two-row sizes, and the free typeface
closest to the national one: a condensed grotesque for the DIN and FE-Schrift family (Germany,
Austria, the Netherlands, central Europe), the UK's Charles Wright and Belgium's; a wide one for the
Latin countries. Better matches are used where installed (Debian: fonts-urw-base35's Nimbus Sans
Narrow, fonts-liberation's Liberation Sans Narrow), DejaVu otherwise. Deterministic; Pillow only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["CountryLook", "european_face", "look_of"]

_PX_PER_MM = 2
_ONE_ROW_MM = (520, 110)
_TWO_ROW_MM = (340, 200)
_BAND_MM = 44
_BORDER_MM = 2
_MARGIN_MM = 7

_FONTS = Path("/usr/share/fonts")
_NARROW = (
    _FONTS / "opentype/urw-base35/NimbusSansNarrow-Bold.otf",
    _FONTS / "truetype/liberation/LiberationSansNarrow-Bold.ttf",
    _FONTS / "truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
)
_WIDE = (
    _FONTS / "truetype/liberation/LiberationSans-Bold.ttf",
    _FONTS / "truetype/dejavu/DejaVuSans-Bold.ttf",
)

_WHITE = (250, 250, 250)
_BLACK = (20, 20, 20)
_YELLOW = (247, 181, 0)
_UK_YELLOW = (255, 204, 0)
_EU_BLUE = (0, 51, 153)
_STARS = (255, 204, 0)
_BELGIAN_RED = (166, 25, 46)

_EU = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    }
)
_LATIN = frozenset({"FR", "IT", "ES", "PT", "GR", "CY", "MT", "RO", "BG", "AL", "XK", "IE"})


@dataclass(frozen=True)
class CountryLook:
    background: tuple[int, int, int]
    characters: tuple[int, int, int]
    band_sign: str  # "" for no band
    stars: bool  # the EU circle of stars over the sign
    right_band: bool  # France and Italy: a blue band on the right as well
    fonts: tuple[Path, ...]  # tried in order


def look_of(country: str, band_sign: str) -> CountryLook:
    background, characters = _WHITE, _BLACK
    if country in {"NL", "LU"}:
        background = _YELLOW
    elif country == "GB":
        background = _UK_YELLOW  # the rear plate
    if country == "BE":
        characters = _BELGIAN_RED
    return CountryLook(
        background=background,
        characters=characters,
        band_sign="" if country == "CH" else band_sign,
        stars=country in _EU,
        right_band=country in {"FR", "IT"},
        fonts=_WIDE if country in _LATIN else _NARROW,
    )


def european_face(rows: Sequence[str], look: CountryLook) -> Image.Image:
    """A plate face with `rows` (one or two display rows) in the country's look."""
    width_mm, height_mm = _ONE_ROW_MM if len(rows) == 1 else _TWO_ROW_MM
    width, height = width_mm * _PX_PER_MM, height_mm * _PX_PER_MM
    face = Image.new("RGB", (width, height), look.background)
    draw = ImageDraw.Draw(face)
    border = _BORDER_MM * _PX_PER_MM
    draw.rectangle((0, 0, width - 1, height - 1), outline=look.characters, width=border)
    left, right = border + _MARGIN_MM * _PX_PER_MM, width - border - _MARGIN_MM * _PX_PER_MM
    band = _BAND_MM * _PX_PER_MM
    if look.band_sign:
        _band(draw, (border, border, border + band, height - border - 1), look)
        left = border + band + _MARGIN_MM * _PX_PER_MM
    if look.right_band:
        right_band = (width - border - band, border, width - border - 1, height - border - 1)
        draw.rectangle(right_band, fill=_EU_BLUE)
        right = width - border - band - _MARGIN_MM * _PX_PER_MM
    row_height = (height - 2 * border) / len(rows)
    for index, row in enumerate(rows):
        glyphs = _glyphs(row, look)
        target_height = round(row_height * 0.72)
        target_width = min(right - left, round(glyphs.width * target_height / glyphs.height))
        fitted = glyphs.resize((target_width, target_height), Image.Resampling.LANCZOS)
        top = round(border + index * row_height + (row_height - target_height) / 2)
        face.paste(fitted, (left + (right - left - target_width) // 2, top))
    return face


def _font(look: CountryLook, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in look.fonts:
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _glyphs(text: str, look: CountryLook) -> Image.Image:
    font = _font(look, 200)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("RGB", (int(right - left) + 8, int(bottom - top) + 8), look.background)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, font=font, fill=look.characters)
    return canvas


def _band(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], look: CountryLook) -> None:
    left, top, right, bottom = box
    draw.rectangle(box, fill=_EU_BLUE)
    centre_x = (left + right) / 2
    if look.stars:
        centre_y = top + (bottom - top) * 0.3
        ring = (right - left) * 0.3
        star = max(2.0, ring * 0.16)
        for index in range(12):
            angle = 2 * math.pi * index / 12
            x, y = centre_x + ring * math.cos(angle), centre_y + ring * math.sin(angle)
            draw.ellipse((x - star, y - star, x + star, y + star), fill=_STARS)
    size = round(min((bottom - top) * 0.3, (right - left) * 1.6 / max(1, len(look.band_sign))))
    font = _font(CountryLook(_WHITE, _WHITE, "", False, False, _NARROW), size)
    centre_y = top + (bottom - top) * (0.78 if look.stars else 0.5)
    draw.text((centre_x, centre_y), look.band_sign, font=font, fill=_WHITE, anchor="mm")
