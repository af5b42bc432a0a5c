"""Detect's REST surface: read the plates of one uploaded image, as the consumer would."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from anpr_core.problems import Problem
from anpr_detect import handlers
from anpr_detect.adapters.frame_reader import ReaderLoading
from anpr_detect.adapters.images import ImageTooLarge, NotAnImage
from anpr_detect.entrypoints.deps import ReadDeps, ReaderUser

router = APIRouter(prefix="/v1")


class ReadingOut(BaseModel):
    text: str
    formatted: str
    country: str
    probability: float


class PlateOut(BaseModel):
    text: str
    formatted: str
    country: str
    valid: bool
    confidence: float
    bbox: tuple[int, int, int, int]
    # The evidence: the recogniser's probability of each character of `text`, the best readings
    # (best first, at most three), another country whose format fits the text, the format read.
    character_probabilities: list[float]
    readings: list[ReadingOut]
    country_runner_up: str
    plate_format: str


class ReadOut(BaseModel):
    plates: list[PlateOut]
    ms: float


@router.post("/read", response_model=ReadOut, tags=["read"])
async def read_image(
    _principal: ReaderUser, ports: ReadDeps, image: Annotated[UploadFile, File()]
) -> ReadOut:
    data = await image.read(ports.max_upload_bytes + 1)
    if len(data) > ports.max_upload_bytes:
        raise Problem(413, "Payload Too Large", f"the image is over {ports.max_upload_bytes} bytes")
    try:
        reading = await handlers.read_image(data, ports)
    except ImageTooLarge as error:
        raise Problem(413, "Payload Too Large", str(error)) from error
    except NotAnImage as error:
        raise Problem(415, "Unsupported Media Type", str(error)) from error
    except ReaderLoading as error:
        raise Problem(503, "Service Unavailable", str(error), headers={"Retry-After": "5"}) from error
    return ReadOut(
        plates=[
            PlateOut(
                text=p.text,
                formatted=p.formatted,
                country=p.country,
                valid=p.valid,
                confidence=p.confidence,
                bbox=p.bbox,
                character_probabilities=[round(x, 4) for x in p.text_probabilities],
                readings=[ReadingOut.model_validate(r, from_attributes=True) for r in p.readings],
                country_runner_up=p.country_runner_up,
                plate_format=p.format_name,
            )
            for p in reading.plates
        ],
        ms=reading.ms,
    )
