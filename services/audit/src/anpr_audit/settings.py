"""Audit settings."""

from __future__ import annotations

from pydantic import Field

from anpr_core.settings import CoreSettings


class AuditSettings(CoreSettings):
    # How often the chain appended since the last check is verified (the anpr_audit_chain_valid metric).
    audit_verify_interval_s: float = Field(default=60.0, gt=0)
