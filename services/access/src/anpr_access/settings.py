"""Access settings: the legal periods are configurable because the law changes."""

from __future__ import annotations

from pydantic import Field

from anpr_core.settings import CoreSettings


class AccessSettings(CoreSettings):
    first_tier_days: int = Field(default=30, ge=1)
    retention_days: int = Field(default=365, ge=1, le=365)
