"""Audit's REST surface: verification, the public key and checkpoints, the auditor's view and export.

Each route parses the request, calls one handler (handlers.auditor: every look is audited there)
and answers; a domain error becomes the problem+json the route documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from anpr_audit.adapters.export_file import ExportFormat
from anpr_audit.domain.chain import from_micros
from anpr_audit.domain.checkpoints import ChainBroken, Checkpoint, EmptyLog
from anpr_audit.domain.period import InvalidPeriod
from anpr_audit.entrypoints.deps import Ports, Reader, Verifier
from anpr_audit.handlers import auditor
from anpr_audit.handlers.auditor import PeriodVerification
from anpr_core.problems import Problem

router = APIRouter(prefix="/v1")


class VerifyOut(BaseModel):
    valid: bool
    rows_checked: int
    first_broken_seq: int | None
    reason: str
    head_hash: str
    head_seq: int
    checkpoints_checked: int
    from_seq: int | None
    to_seq: int | None


class AuditEventOut(BaseModel):
    seq: int
    event_id: str
    occurred_at: datetime
    actor_user: str
    actor_role: str
    action: str
    service: str
    outcome: str
    case_reference: str
    row_hash: str


class CheckpointOut(BaseModel):
    seq: int
    head_hash: str
    created_at: datetime
    key_id: str
    signature_hex: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointOut:
        return cls(
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            created_at=from_micros(checkpoint.created_us),
            key_id=checkpoint.key_id,
            signature_hex=checkpoint.signature.hex(),
        )


Since = Annotated[
    datetime | None, Query(alias="from", description="start of the period (when the log recorded)")
]
Until = Annotated[datetime | None, Query(alias="to", description="end of the period, exclusive")]
CaseReference = Annotated[
    str, Query(max_length=100, description="the inspection or case this look belongs to, logged with it")
]
PEM, NDJSON, CSV = "application/x-pem-file", "application/x-ndjson", "text/csv"


def _verify_out(verdict: PeriodVerification) -> VerifyOut:
    result, period = verdict.result, verdict.period
    return VerifyOut(
        valid=result.valid,
        rows_checked=result.rows_checked,
        first_broken_seq=result.first_broken_seq,
        reason=result.reason,
        head_hash=result.head_hash,
        head_seq=result.head_seq,
        checkpoints_checked=result.checkpoints_checked,
        from_seq=period[0] if period else None,
        to_seq=period[1] if period else None,
    )


@contextmanager
def _answered_as_problems() -> Iterator[None]:
    """A domain error as the problem+json a client is documented to get."""
    try:
        yield
    except InvalidPeriod as error:
        raise Problem(422, "Invalid period", str(error)) from error
    except ChainBroken as error:
        raise Problem(409, "Chain broken", str(error)) from error
    except EmptyLog as error:
        raise Problem(409, "Empty log", str(error)) from error


@router.get("/verify", response_model=VerifyOut, tags=["audit"])
async def verify(
    principal: Verifier,
    ports: Ports,
    since: Since = None,
    until: Until = None,
    case_reference: CaseReference = "",
) -> VerifyOut:
    """Recomputes the chain (or a period's rows, from the row before it), compares it with the
    signed checkpoints and with the anchors kept outside the database (a wiped, cut or rolled
    back log is reported), and names the first row that does not hold. The look is logged."""
    with _answered_as_problems():
        return _verify_out(await auditor.verify_log(ports, principal, since, until, case_reference))


@router.get(
    "/public-key",
    response_class=PlainTextResponse,
    tags=["audit"],
    responses={200: {"content": {PEM: {"schema": {"type": "string"}}}, "description": "the key, PEM"}},
)
async def public_key(ports: Ports) -> PlainTextResponse:
    """The Ed25519 key that signs checkpoints (PEM). Keep a copy: it is what exports are verified with."""
    return PlainTextResponse(auditor.public_key_pem(ports), media_type=PEM)


@router.get("/checkpoints", response_model=list[CheckpointOut], tags=["audit"])
async def list_checkpoints(
    principal: Verifier,
    ports: Ports,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    case_reference: CaseReference = "",
) -> list[CheckpointOut]:
    """The newest signed checkpoints kept in the database (the anchors are their copies outside it).
    The look is logged."""
    signed = await auditor.list_checkpoints(ports, principal, limit, case_reference)
    return [CheckpointOut.of(c) for c in signed]


@router.post("/checkpoints", response_model=CheckpointOut, status_code=201, tags=["audit"])
async def make_checkpoint(
    principal: Verifier,
    ports: Ports,
    case_reference: CaseReference = "",
) -> CheckpointOut:
    """Verifies the chain, signs its head now and anchors it (the service also does so at an
    interval). The request is logged."""
    with _answered_as_problems():
        return CheckpointOut.of(await auditor.make_checkpoint(ports, principal, case_reference))


@router.get("/events", response_model=list[AuditEventOut], tags=["audit"])
async def events(
    principal: Reader,
    ports: Ports,
    actor: str | None = None,
    action: str | None = None,
    case_reference: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    with _answered_as_problems():
        rows = await auditor.search_events(
            ports,
            principal,
            actor=actor,
            action=action,
            case_reference=case_reference,
            since=since,
            until=until,
            limit=limit,
        )
    return [AuditEventOut(**row.__dict__) for row in rows]


@router.get(
    "/export",
    tags=["audit"],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}, CSV: {"schema": {"type": "string"}}},
            "description": "JSON lines (format=jsonl) or CSV (format=csv): header, checkpoints, rows",
        }
    },
)
async def export(
    principal: Reader,
    ports: Ports,
    since: Since = None,
    until: Until = None,
    format: ExportFormat = ExportFormat.JSONL,  # noqa: A002 - the query parameter's name
) -> StreamingResponse:
    """The period's rows, with what is needed to verify them offline (`anpr audit verify FILE`).

    Rows are those the log recorded in [from, to). The export is itself audited (action
    `export`, recipient: who asked) before a byte leaves.
    """
    with _answered_as_problems():
        exported = await auditor.export_log(ports, principal, since, until, format)
    return StreamingResponse(
        exported.lines,
        media_type=NDJSON if format is ExportFormat.JSONL else CSV,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
