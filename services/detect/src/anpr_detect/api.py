"""Detect's REST surface: read the plates of one uploaded image, as the consumer would."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from pydantic import BaseModel

from anpr_core.auth import Action, Principal, require
from anpr_core.problems import Problem
from anpr_detect.adapters.frame_reader import FrameReader
from anpr_detect.adapters.images import DEFAULT_MAX_IMAGE_PIXELS, ImageTooLarge, decode_image

# Dependency aliases live at module level: FastAPI resolves string annotations there.
ReaderUser = Annotated[Principal, Depends(require(Action.TRY_READER))]


class PlateOut(BaseModel):
    text: str
    formatted: str
    country: str
    valid: bool
    confidence: float
    bbox: tuple[int, int, int, int]


class ReadOut(BaseModel):
    plates: list[PlateOut]
    ms: float


class ReaderSlot:
    """Holds the FrameReader once the models are loaded at start-up."""

    def __init__(self) -> None:
        self._reader: FrameReader | None = None

    def set(self, reader: FrameReader | None) -> None:
        self._reader = reader

    def get(self) -> FrameReader:
        if self._reader is None:
            raise Problem(
                503, "Service Unavailable", "the plate reader is still loading", headers={"Retry-After": "5"}
            )
        return self._reader

    def ready(self) -> bool:
        return self._reader is not None


def build_read_router(
    frame_reader: ReaderSlot, max_bytes: int, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/read", response_model=ReadOut, tags=["read"])
    async def read_image(_principal: ReaderUser, image: Annotated[UploadFile, File()]) -> ReadOut:
        data = await image.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise Problem(413, "Payload Too Large", f"the image is over {max_bytes} bytes")
        try:
            decoded = decode_image(data, max_pixels)
        except ImageTooLarge as error:
            raise Problem(413, "Payload Too Large", str(error)) from error
        except ValueError as error:
            raise Problem(415, "Unsupported Media Type", str(error)) from error
        started = time.perf_counter()
        plates = await frame_reader.get().read(decoded)
        return ReadOut(
            plates=[
                PlateOut(
                    text=p.text,
                    formatted=p.formatted,
                    country=p.country,
                    valid=p.valid,
                    confidence=p.confidence,
                    bbox=p.bbox,
                )
                for p in plates
            ],
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    return router
