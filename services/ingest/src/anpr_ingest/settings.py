"""Ingest settings."""

from __future__ import annotations

from pydantic import Field

from anpr_core.bus.kafka import MAX_MESSAGE_BYTES
from anpr_core.settings import CoreSettings


class IngestSettings(CoreSettings):
    # Below the broker's message limit, leaving room for the event envelope.
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=MAX_MESSAGE_BYTES - 64 * 1024)
    min_frame_side: int = Field(default=64, ge=1)
    max_frame_side: int = Field(default=8192, ge=64)
    max_clock_skew_s: float = Field(default=300.0, gt=0)
