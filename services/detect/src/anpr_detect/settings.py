"""Detect settings."""

from __future__ import annotations

from pydantic import Field

from anpr_core.settings import CoreSettings


class DetectSettings(CoreSettings):
    # ONNX Runtime intra-op threads in all, shared by the readers (threads // max_inflight each).
    threads: int = Field(default=2, ge=1, le=64)
    # Frames being read at once, each by its own reader; more wait in the bus (the back-pressure).
    max_inflight: int = Field(default=2, ge=1, le=64)
    max_upload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
