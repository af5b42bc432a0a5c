"""Access settings: the legal periods are configurable because the law changes."""

from __future__ import annotations

from pydantic import Field

from anpr_core.settings import CoreSettings


class AccessSettings(CoreSettings):
    first_tier_days: int = Field(default=30, ge=1)
    retention_days: int = Field(default=365, ge=1, le=365)
    # How often the retention job runs in the background; 0 turns it off (run it by REST then).
    retention_interval_s: float = Field(default=3600.0, ge=0)
    # Month partitions created ahead of the current one (PostgreSQL).
    partitions_ahead: int = Field(default=2, ge=0, le=24)
    # A data subject's request is answered within a month unless the law says otherwise.
    dpo_deadline_days: int = Field(default=30, ge=1)
