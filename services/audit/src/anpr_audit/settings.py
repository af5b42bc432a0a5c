"""Audit settings."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from anpr_core.settings import CoreSettings, Environment


class AuditSettings(CoreSettings):
    # How often the chain appended since the last check is verified (the anpr_audit_chain_valid metric).
    audit_verify_interval_s: float = Field(default=60.0, gt=0)
    # How often the verified head is signed as a checkpoint (when it moved).
    audit_checkpoint_interval_s: float = Field(default=300.0, gt=0)
    # The Ed25519 key that signs checkpoints. Development creates one (0600) under data_dir;
    # production requires the path and refuses to create a key.
    audit_signing_key_path: Path | None = None
    # The database role the appender writes as: INSERT and SELECT only. Created at start-up
    # when the connecting role may create roles; empty to append as the connecting role.
    audit_writer_role: str = Field(default="schild_audit_writer", pattern=r"^[a-z_][a-z0-9_]{0,62}$|^$")
    # Records per poll, and so per append transaction.
    audit_batch_max_records: int = Field(default=2000, ge=1, le=50_000)

    @model_validator(mode="after")
    def _production_needs_a_signing_key(self) -> Self:
        if self.env is Environment.PRODUCTION and self.audit_signing_key_path is None:
            raise ValueError(
                "production needs ANPR_AUDIT_SIGNING_KEY_PATH, an Ed25519 private key in PEM "
                "(e.g. `openssl genpkey -algorithm ed25519 -out audit-signing.pem`, mode 0600)"
            )
        return self

    def resolved_signing_key_path(self) -> Path:
        return self.audit_signing_key_path or (self.data_dir / "audit" / "checkpoint-signing-key.pem")
