"""Checks an export (export_file) offline, with the public key and the anchors alone. No I/O.

The verifier recomputes every link from the first row's previous hash, checks the checkpoints and
the anchors (the auditor's copies of the checkpoints, kept outside the database) against the
recomputed chain, requires a checkpoint on the last row (so the whole segment is vouched for by
the log's key), checks that the stored columns and the readable fields say what the signed
content says, and that no anchor signed before the export shows rows of the period that the
export lacks.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from anpr.v1 import audit_pb2
from anpr_audit.adapters.columns import occurred_us, row_columns
from anpr_audit.adapters.export_file import FORMAT
from anpr_audit.adapters.signing import load_public_pem
from anpr_audit.domain.chain import COLUMNS, ChainRow, from_micros, micros
from anpr_audit.domain.checkpoints import Checkpoint, key_id
from anpr_audit.domain.verification import ChainCheck


@dataclass(frozen=True)
class ExportVerification:
    valid: bool
    rows: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    key_id: str
    first_broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ExportError(ValueError):
    """The file is not a readable export (as opposed to a readable export that does not verify)."""


def _header_time(header: dict[str, Any], name: str) -> int | None:
    value = header.get(name)
    if not value:
        return None
    try:
        return micros(datetime.fromisoformat(value))
    except (TypeError, ValueError) as error:
        raise ExportError(f"the header's {name!r} is not a time: {value!r}") from error


def verify_export(
    lines: Iterable[str],
    trusted_key: Ed25519PublicKey | None = None,
    anchors: Sequence[Checkpoint] = (),
) -> ExportVerification:
    """Verifies a JSON-lines export offline; names the first row that does not hold.

    Without `trusted_key` the key in the file is used: compare its key_id with the one the
    service publishes (GET /v1/public-key), or pass that key, since a forger could re-sign.
    `anchors` (the auditor's file of anchors, or the anchor topic's records) are checked against
    the rows they cover, and show rows of the period missing from the export.
    """
    header: dict[str, Any] | None = None
    checkpoints: dict[int, Checkpoint] = {}
    rows: list[ChainRow] = []
    readable: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            kind = record["type"]
            if kind == "header":
                header = record
            elif kind == "checkpoint":
                checkpoints[int(record["seq"])] = Checkpoint(
                    int(record["seq"]),
                    str(record["head_hash"]),
                    int(record["created_us"]),
                    str(record["key_id"]),
                    base64.b64decode(record["signature_b64"], validate=True),
                    "export",
                )
            elif kind == "row":
                seq = int(record["seq"])
                rows.append(
                    ChainRow(
                        seq,
                        int(record["appended_us"]),
                        base64.b64decode(record["content_b64"], validate=True),
                        str(record["previous_hash"]),
                        str(record["row_hash"]),
                        int(record["occurred_us"]),
                        *(str(record[name]) for name in COLUMNS),
                    )
                )
                readable[seq] = record
            else:
                raise ExportError(f"line {number}: unknown record type {kind!r}")
        except (ValueError, KeyError, TypeError) as error:
            raise ExportError(f"line {number}: not an export record: {error}") from error
    if header is None or header.get("type") != "header":
        raise ExportError(f"no {FORMAT} header line: is this a JSON-lines export of the audit log?")
    if header.get("format") != FORMAT:
        raise ExportError(
            f"the export is in format {header.get('format')!r}, not {FORMAT}: "
            "it was made by an earlier Schild version, whose chain this version cannot vouch for"
        )
    if trusted_key is None and not isinstance(header.get("public_key_pem"), str):
        raise ExportError("the header holds no public key: give the one you kept (--public-key)")
    key = trusted_key or load_public_pem(header["public_key_pem"])
    rows.sort(key=lambda row: row.seq)
    first = rows[0].seq if rows else None
    last = rows[-1].seq if rows else None

    def verdict(
        valid: bool, broken: int | None = None, reason: str = "", checked: int = 0
    ) -> ExportVerification:
        return ExportVerification(valid, len(rows), first, last, checked, key_id(key), broken, reason)

    if missing := _missing_rows(header, first, last, anchors):
        return verdict(False, *missing)
    if not rows:
        return verdict(True, reason="the export holds no rows")
    assert first is not None and last is not None  # noqa: S101 - rows is not empty
    inside = {seq: c for seq, c in checkpoints.items() if first <= seq <= last}
    covered = [a for a in anchors if first <= a.seq <= last]
    check = ChainCheck(rows[0].previous_hash, first - 1, inside, key, covered)
    check.feed(rows)
    result = check.finish()
    if not result.valid:
        return verdict(False, result.first_broken_seq, result.reason, result.checkpoints_checked)
    for row in rows:
        try:
            event = audit_pb2.AuditEvent()
            event.ParseFromString(row.content)
            content_says = json_format.MessageToDict(event, preserving_proto_field_name=True)
        except DecodeError:
            return verdict(False, row.seq, "the content is not an audit event", result.checkpoints_checked)
        if row.columns != row_columns(event) or row.occurred_us != occurred_us(event):
            return verdict(
                False,
                row.seq,
                "the stored columns (actor, role, action, service, outcome, case, times) differ from "
                "the signed content",
                result.checkpoints_checked,
            )
        if readable[row.seq].get("event") != content_says or readable[row.seq].get(
            "event_id"
        ) != content_says.get("meta", {}).get("event_id"):
            return verdict(
                False,
                row.seq,
                "the readable fields differ from the signed content",
                result.checkpoints_checked,
            )
    if last not in inside:
        return verdict(
            False,
            last,
            f"no signed checkpoint on the last row (seq {last}): "
            "the segment is not vouched for by the log's key",
            result.checkpoints_checked,
        )
    return verdict(True, checked=result.checkpoints_checked)


def _missing_rows(
    header: dict[str, Any], first: int | None, last: int | None, anchors: Sequence[Checkpoint]
) -> tuple[int, str] | None:
    """Rows the export should hold and does not: cut from its start or end, by its own header, or
    shown by an anchor signed before the export over a row of the period beyond its last row."""
    try:
        said_first, said_last = header.get("first_seq"), header.get("last_seq")
        said_first = int(said_first) if said_first is not None else None
        said_last = int(said_last) if said_last is not None else None
    except (TypeError, ValueError) as error:
        raise ExportError(f"the header's seq range is not a pair of numbers: {error}") from error
    if said_first is not None and (first is None or first > said_first):
        return said_first, f"rows are missing: the header says the export starts at seq {said_first}"
    if said_last is not None and (last is None or last < said_last):
        return (last or said_first or 0) + 1, f"truncated: the header says the export ends at seq {said_last}"
    if first is None or last is None:
        return None
    until, exported = _header_time(header, "to"), _header_time(header, "exported_at")
    for anchor in sorted(anchors, key=lambda a: a.seq):
        # Signed before the end of the period and before the export: row anchor.seq was appended
        # by then, after the export's first row, so within the period.
        if (
            anchor.seq > last
            and (until is None or anchor.created_us < until)
            and (exported is None or anchor.created_us < exported)
        ):
            return last + 1, (
                f"truncated: an anchor ({anchor.source or 'anchors'}) signed at "
                f"{from_micros(anchor.created_us).isoformat()} covers seq {anchor.seq}, within the "
                f"period, but the export ends at seq {last}"
            )
    return None
