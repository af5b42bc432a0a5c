"""Match's own settings (environment prefix ANPR_MATCH_), beside the core ones."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from anpr_match.domain.plates import DEFAULT_CONFUSABLE_CLASSES, Confusables


class MatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANPR_MATCH_", env_file=None, extra="ignore")

    # Classes of characters the OCR confuses, e.g. ANPR_MATCH_CONFUSABLE_CLASSES='["0ODQ","1IL"]'.
    confusable_classes: tuple[str, ...] = DEFAULT_CONFUSABLE_CLASSES
    # A new entry also matches reads of this many hours back (from this replica's store of reads,
    # restored from the reads topic at its start).
    lookback_hours: float = Field(default=4.0, ge=0, le=72)
    # Reads kept for the look-back (~700 bytes each), every camera's after a start: at 120 reads/s
    # 200,000 are 28 min; 4 h needs 1.73M.
    recent_reads_capacity: int = Field(default=200_000, ge=0, le=10_000_000)
    # Same entry, same camera, within this many seconds: one hit.
    duplicate_window_s: float = Field(default=60.0, ge=0, le=3600)
    # How often new entries are checked against recent reads.
    lookback_interval_s: float = Field(default=0.2, gt=0, le=60)
    # How late a read may reach match after its capture: a camera's clock may be off by up to
    # ingest's ANPR_MAX_CLOCK_SKEW_S (300 s), and detect's queue adds its delay. A new entry's
    # look-back reaches at least this far back, and hits of reads this late are still deduplicated.
    late_read_s: float = Field(default=900.0, ge=0, le=86_400)

    @field_validator("confusable_classes")
    @classmethod
    def _classes_are_disjoint(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        Confusables(value)
        return value
