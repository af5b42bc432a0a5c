"""Audit settings."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from anpr_audit.adapters.anchor_topic import TOPIC
from anpr_core.settings import CoreSettings, Environment


class AuditSettings(CoreSettings):
    # How often the chain appended since the last check is verified (the anpr_audit_chain_valid metric).
    audit_verify_interval_s: float = Field(default=60.0, gt=0)
    # How often the verified head is signed as a checkpoint and anchored (when it moved): at most
    # this many seconds of the log are vouched for by no anchor outside the database.
    audit_checkpoint_interval_s: float = Field(default=5.0, gt=0, le=3600)
    # The Ed25519 key that signs checkpoints. Development creates one (0600) under data_dir;
    # production requires the path and refuses to create a key.
    audit_signing_key_path: Path | None = None
    # The auditor's append-only file of anchors (JSON lines), on a volume of its own, `chattr +a`.
    # Development keeps it under data_dir; production requires the path.
    audit_anchor_file: Path | None = None
    # The Kafka topic of anchors (after topic_prefix); on Kafka only.
    audit_anchor_topic: str = Field(default=TOPIC, min_length=1, max_length=200)
    # Records per poll, and so per append transaction.
    audit_batch_max_records: int = Field(default=2000, ge=1, le=50_000)

    @model_validator(mode="after")
    def _production_needs_a_signing_key(self) -> Self:
        if self.env is Environment.PRODUCTION and self.audit_signing_key_path is None:
            raise ValueError(
                "production needs ANPR_AUDIT_SIGNING_KEY_PATH, an Ed25519 private key in PEM "
                "(e.g. `openssl genpkey -algorithm ed25519 -out audit-signing.pem`, mode 0600)"
            )
        if self.env is Environment.PRODUCTION and self.audit_anchor_file is None:
            raise ValueError(
                "production needs ANPR_AUDIT_ANCHOR_FILE, the auditor's append-only file of anchors, "
                "on a volume of its own (made append-only with `chattr +a`)"
            )
        return self

    def resolved_anchor_file(self) -> Path:
        return self.audit_anchor_file or (self.data_dir / "audit" / "anchors.jsonl")

    def resolved_signing_key_path(self) -> Path:
        return self.audit_signing_key_path or (self.data_dir / "audit" / "checkpoint-signing-key.pem")
