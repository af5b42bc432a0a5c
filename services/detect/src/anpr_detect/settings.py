"""Detect settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from anpr_core.settings import CoreSettings
from anpr_detect.domain.limits import DEFAULT_MAX_IMAGE_PIXELS
from anpr_detect.domain.priors import BELGIAN_ZONE, CountryPriors


class DetectSettings(CoreSettings):
    # ONNX Runtime intra-op threads in all, shared by the readers (threads // max_inflight each);
    # unset, the cores this process may run on (os.sched_getaffinity: a container's CPU set).
    threads: int | None = Field(default=None, ge=1, le=64)
    # ONNX Runtime's idle threads busy-wait for work (its default). Off: with several sessions on
    # few cores, spinning threads take the cores the others need (adapters/onnx_threads.py).
    ort_spinning: bool = False
    # Frames being read at once, each by its own reader; more wait in the bus (the back-pressure).
    max_inflight: int = Field(default=2, ge=1, le=64)
    # Frames each reader takes from one poll, its detection run as one batch (more on a GPU).
    frames_per_reader: int = Field(default=4, ge=1, le=256)
    # detector: the project's plate detector then PP-OCR per plate; text: PP-OCR over the whole
    # frame; detector+text: the text reader where the detector finds nothing (adapters/readers.py).
    reader: Literal["detector", "detector+text", "text"] = "text"
    # Each read carries its frame as the overview image (access stores it with the read).
    attach_overview: bool = True
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # A frame declaring more pixels is dead-lettered from its header, never decoded, so memory stays
    # bounded whatever reaches the frames topic (ingest refuses them too: the same ANPR_MAX_IMAGE_PIXELS).
    max_image_pixels: int = Field(default=DEFAULT_MAX_IMAGE_PIXELS, ge=64 * 64)
    # Reads of one camera no later read joined for this long (capture time; wall clock while the
    # camera is quiet) close their passage, which is then published once (domain/passages.py).
    passage_window_s: float = Field(default=3.0, gt=0, le=60)
    # How likely each country's plates are on the zone's roads, the reader's prior when a reading
    # fits several countries' formats (or would after a look-alike swap): "BE=1,NL=0.7,*=0.25",
    # `*` for every other country, 0 switches a country off (domain/priors.py).
    country_priors: str = str(BELGIAN_ZONE)

    @field_validator("country_priors")
    @classmethod
    def _priors_parse(cls, value: str) -> str:
        CountryPriors.parse(value)  # refuse a malformed setting at start, not at the first plate
        return value

    def priors(self) -> CountryPriors:
        return CountryPriors.parse(self.country_priors)
