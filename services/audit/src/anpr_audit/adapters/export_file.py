"""The export handed to the supervisor (COC): a period's rows, the signed checkpoints that cover
them and the public key, in a form anyone can verify offline (`anpr audit verify --offline FILE
--anchors ANCHORS --public-key KEY`, export_check). No I/O.

JSON lines: one `header` (the public key, the period, the seq range), then the `checkpoint`s,
then one `row` per audit row with every stored column, its canonical content (base64), previous
hash and row hash, and the event decoded for reading; or the same records as CSV.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format

from anpr.v1 import audit_pb2
from anpr_audit.adapters.signing import public_pem
from anpr_audit.domain.chain import StoredRow, from_micros, micros
from anpr_audit.domain.checkpoints import Checkpoint, key_id

# Version 2: every stored column is in the row and in its hash. Version 1 exports (an earlier
# chain format) cannot be verified by this version.
FORMAT = "schild-audit-export/2"
CSV_COLUMNS = [
    "kind",
    "seq",
    "event_id",
    "appended_at",
    "appended_us",
    "occurred_at",
    "actor_user",
    "actor_role",
    "action",
    "service",
    "outcome",
    "purpose",
    "case_reference",
    "legal_basis",
    "recipients",
    "record_count",
    "target",
    "changes",
    "detail",
    "content_b64",
    "previous_hash",
    "row_hash",
    "key_id",
    "signature_b64",
]


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def decoded(content: bytes) -> dict[str, Any]:
    event = audit_pb2.AuditEvent()
    event.ParseFromString(content)
    return json_format.MessageToDict(event, preserving_proto_field_name=True)


def header_record(
    *,
    public_key: Ed25519PublicKey,
    zone_id: str,
    since: datetime | None,
    until: datetime | None,
    first_seq: int | None,
    last_seq: int | None,
    exported_at: datetime,
    exported_by: str,
    verified: bool,
    reason: str,
) -> dict[str, Any]:
    return {
        "type": "header",
        "format": FORMAT,
        "zone_id": zone_id,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "first_seq": first_seq,
        "last_seq": last_seq,
        "exported_at": exported_at.isoformat(),
        "exported_by": exported_by,
        "verified_at_export": verified,
        "verification_reason": reason,
        "key_id": key_id(public_key),
        "public_key_pem": public_pem(public_key),
    }


def checkpoint_record(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "type": "checkpoint",
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "created_at": from_micros(checkpoint.created_us).isoformat(),
        "created_us": checkpoint.created_us,
        "key_id": checkpoint.key_id,
        "signature_b64": base64.b64encode(checkpoint.signature).decode(),
    }


def row_record(row: StoredRow) -> dict[str, Any]:
    return {
        "type": "row",
        "seq": row.seq,
        "event_id": row.event_id,
        "appended_at": row.appended_at.isoformat(),
        "appended_us": micros(row.appended_at),
        "occurred_at": row.occurred_at.isoformat(),
        "occurred_us": micros(row.occurred_at),
        "actor_user": row.actor_user,
        "actor_role": row.actor_role,
        "action": row.action,
        "service": row.service,
        "outcome": row.outcome,
        "case_reference": row.case_reference,
        "event": decoded(row.content),
        "content_b64": base64.b64encode(row.content).decode(),
        "previous_hash": row.previous_hash,
        "row_hash": row.row_hash,
    }


def jsonl(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def csv_header_line() -> str:
    return csv_line(CSV_COLUMNS)


def csv_record(record: dict[str, Any]) -> str:
    """One export record as a CSV line: rows flat for spreadsheets, the key and checkpoints alongside."""
    kind = record["type"]
    cells: dict[str, Any] = {"kind": kind}
    if kind == "header":
        cells |= {
            "key_id": record["key_id"],
            "content_b64": base64.b64encode(record["public_key_pem"].encode()).decode(),
            "seq": record["last_seq"],
        }
    elif kind == "checkpoint":
        cells |= {
            "seq": record["seq"],
            "appended_at": record["created_at"],
            "appended_us": record["created_us"],
            "row_hash": record["head_hash"],
            "key_id": record["key_id"],
            "signature_b64": record["signature_b64"],
        }
    else:
        event = record["event"]
        cells |= {
            "seq": record["seq"],
            "event_id": record["event_id"],
            "appended_at": record["appended_at"],
            "appended_us": record["appended_us"],
            "occurred_at": record["occurred_at"],
            "actor_user": record["actor_user"],
            "actor_role": record["actor_role"],
            "action": record["action"],
            "service": record["service"],
            "outcome": record["outcome"],
            "purpose": event.get("purpose", ""),
            "case_reference": record["case_reference"],
            "legal_basis": event.get("legal_basis", ""),
            "recipients": ";".join(event.get("recipients", [])),
            "record_count": event.get("record_count", 0),
            "target": event.get("target", ""),
            "changes": event.get("changes", ""),
            "detail": event.get("detail", ""),
            "content_b64": record["content_b64"],
            "previous_hash": record["previous_hash"],
            "row_hash": record["row_hash"],
        }
    return csv_line([cells.get(column, "") for column in CSV_COLUMNS])


async def export_lines(
    header: dict[str, Any],
    checkpoints: Sequence[Checkpoint],
    batches: AsyncIterator[Sequence[StoredRow]] | None,
    export_format: ExportFormat,
) -> AsyncIterator[str]:
    """The export, line by line: the header, the checkpoints, then the rows batch by batch."""
    emit = jsonl if export_format is ExportFormat.JSONL else csv_record
    if export_format is ExportFormat.CSV:
        yield csv_header_line()
    yield emit(header)
    for checkpoint in checkpoints:
        yield emit(checkpoint_record(checkpoint))
    if batches is None:
        return
    async for rows in batches:
        yield "".join(emit(row_record(row)) for row in rows)
