"""Match's settings: the core ones (ANPR_*) and match's own, whose environment names keep the
ANPR_MATCH_ prefix they always had. One class, read once at the start: a bad value stops it."""

from __future__ import annotations

import logging
import os
from typing import Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from anpr_core.plates import DEFAULT_CONFUSABLE_CLASSES
from anpr_core.settings import CoreSettings

log = logging.getLogger(__name__)

# The name of the zone's confusable classes before they became one setting of the zone (read by
# access's fuzzy search too): still read, with a warning, where ANPR_CONFUSABLE_CLASSES is not set.
DEPRECATED_CONFUSABLE_CLASSES = "ANPR_MATCH_CONFUSABLE_CLASSES"


def _match_env(name: str) -> AliasChoices:
    """The environment name of one of match's own settings: ANPR_MATCH_<NAME>."""
    return AliasChoices(f"ANPR_MATCH_{name.upper()}")


class MatchSettings(CoreSettings):
    # populate_by_name: code and tests give match's settings by their field names.
    model_config = SettingsConfigDict(
        env_prefix="ANPR_", env_file=None, extra="ignore", populate_by_name=True
    )

    # The zone's one set of confusable classes (ANPR_CONFUSABLE_CLASSES, see CoreSettings).
    confusable_classes: tuple[str, ...] = Field(
        default=DEFAULT_CONFUSABLE_CLASSES,
        validation_alias=AliasChoices("ANPR_CONFUSABLE_CLASSES", DEPRECATED_CONFUSABLE_CLASSES),
    )
    # A new entry also matches reads of this many hours back (from this replica's store of reads,
    # restored from the reads topic at its start).
    lookback_hours: float = Field(default=4.0, ge=0, le=72, validation_alias=_match_env("lookback_hours"))
    # Reads kept for the look-back, every camera's (the whole zone's) after a start: about 300
    # bytes each (measured over 200,000). It bounds how far back a look-back reaches: at 120
    # reads/s, 200,000 (60 MB) are 28 min; the default 4 h look-back needs 1.73M (520 MB).
    recent_reads_capacity: int = Field(
        default=200_000, ge=0, le=10_000_000, validation_alias=_match_env("recent_reads_capacity")
    )
    # Same entry, same camera, within this many seconds: one hit.
    duplicate_window_s: float = Field(
        default=60.0, ge=0, le=3600, validation_alias=_match_env("duplicate_window_s")
    )
    # How often new entries are checked against recent reads.
    lookback_interval_s: float = Field(
        default=0.2, gt=0, le=60, validation_alias=_match_env("lookback_interval_s")
    )
    # How late a read may reach match after its capture: a camera's clock may be off by up to
    # ingest's ANPR_MAX_CLOCK_SKEW_S (300 s), and detect's queue adds its delay. A new entry's
    # look-back reaches at least this far back, and hits of reads this late are still deduplicated.
    late_read_s: float = Field(default=900.0, ge=0, le=86_400, validation_alias=_match_env("late_read_s"))

    @model_validator(mode="after")
    def _deprecated_names_warned(self) -> Self:
        environment = {name.upper(): value for name, value in os.environ.items()}
        old = environment.get(DEPRECATED_CONFUSABLE_CLASSES)
        if old is None:
            return self
        new = environment.get("ANPR_CONFUSABLE_CLASSES")
        if new is not None and new != old:
            raise ValueError(
                f"ANPR_CONFUSABLE_CLASSES and {DEPRECATED_CONFUSABLE_CLASSES} differ: set the first "
                "only (access reads it too) and unset the second"
            )
        log.warning(
            "%s is deprecated: set ANPR_CONFUSABLE_CLASSES instead, the zone's one setting that "
            "match's fuzzy matching and access's fuzzy search both read",
            DEPRECATED_CONFUSABLE_CLASSES,
        )
        return self
