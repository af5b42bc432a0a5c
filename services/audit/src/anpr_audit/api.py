"""Audit's REST surface: verification, the public key and checkpoints, the auditor's view and export.

Every look at the log is itself a row of the log (who, role, why): verifying it, reading or asking
for checkpoints, reading or exporting its rows. The purpose is always the audit itself (the
supervision of the processing by the COC, the DPO or the administrator); a case or file number
may be given with `case_reference`. Only the public key, which anyone may hold, is not logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from anpr.v1 import audit_pb2
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.export_file import (
    checkpoint_record,
    csv_header_line,
    csv_record,
    header_record,
    jsonl,
    row_record,
)
from anpr_audit.adapters.signing import public_pem
from anpr_audit.domain.chain import from_micros
from anpr_audit.domain.checkpoints import Checkpoint
from anpr_audit.domain.verification import Verification
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.events import utcnow
from anpr_core.metrics import AUDIT_CHAIN_VALID
from anpr_core.problems import Problem


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


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


Since = Annotated[
    datetime | None, Query(alias="from", description="start of the period (when the log recorded)")
]
Until = Annotated[datetime | None, Query(alias="to", description="end of the period, exclusive")]
CaseReference = Annotated[
    str, Query(max_length=100, description="the inspection or case this look belongs to, logged with it")
]
PURPOSE = "audit"
PEM, NDJSON, CSV = "application/x-pem-file", "application/x-ndjson", "text/csv"


def _verify_out(result: Verification, period: tuple[int, int] | None) -> VerifyOut:
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


def _check_period(
    since: datetime | None, until: datetime | None, names: tuple[str, str] = ("from", "to")
) -> None:
    for name, moment in zip(names, (since, until), strict=True):
        if moment is not None and moment.tzinfo is None:
            raise Problem(422, "Invalid period", f"`{name}` needs a time zone, e.g. 2026-03-01T00:00:00Z")
    if since and until and since >= until:
        raise Problem(422, "Invalid period", f"`{names[0]}` must be before `{names[1]}`")


def build_router(
    log: AuditLog,
    audit: AuditTrail,
    watch: ChainWatch,
    zone_id: str,
    publish: Callable[[audit_pb2.AuditEvent], Awaitable[None]],
) -> APIRouter:
    router = APIRouter(prefix="/v1")

    async def period_seqs(since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
        _check_period(since, until)
        return await log.seq_range(since, until)

    @router.get("/verify", response_model=VerifyOut, tags=["audit"])
    async def verify(
        principal: Annotated[Principal, Depends(require(Action.VERIFY_AUDIT))],
        since: Since = None,
        until: Until = None,
        case_reference: CaseReference = "",
    ) -> VerifyOut:
        """Recomputes the chain (or a period's rows, from the row before it), compares it with the
        signed checkpoints and with the anchors kept outside the database (a wiped, cut or rolled
        back log is reported), and names the first row that does not hold. The look is logged."""
        if since is None and until is None:
            result = await watch.verify()
            AUDIT_CHAIN_VALID.set(1 if result.valid else 0)
            out = _verify_out(result, None)
        else:
            period = await period_seqs(since, until)
            if period is None:
                out = _verify_out(
                    Verification(True, 0, reason="the log recorded nothing in this period"), None
                )
            else:
                first, last = period
                out = _verify_out(await watch.verify(after_seq=first - 1, last_seq=last), period)
        await audit.record(
            principal,
            "audit_verify",
            purpose=PURPOSE,
            case_reference=case_reference,
            query={"from": since, "to": until},
            detail=(
                f"valid={out.valid} rows_checked={out.rows_checked} head_seq={out.head_seq} "
                f"first_broken_seq={out.first_broken_seq}"
            ),
        )
        return out

    @router.get(
        "/public-key",
        response_class=PlainTextResponse,
        tags=["audit"],
        responses={200: {"content": {PEM: {"schema": {"type": "string"}}}, "description": "the key, PEM"}},
    )
    async def public_key() -> PlainTextResponse:
        """The Ed25519 key that signs checkpoints (PEM). Keep a copy: it is what exports are verified with."""
        return PlainTextResponse(public_pem(watch.public_key), media_type=PEM)

    @router.get("/checkpoints", response_model=list[CheckpointOut], tags=["audit"])
    async def list_checkpoints(
        principal: Annotated[Principal, Depends(require(Action.VERIFY_AUDIT))],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        case_reference: CaseReference = "",
    ) -> list[CheckpointOut]:
        """The newest signed checkpoints kept in the database (the anchors are their copies outside it).
        The look is logged."""
        signed = (await log.checkpoints())[-limit:]
        await audit.record(
            principal,
            "audit_checkpoints",
            purpose=PURPOSE,
            case_reference=case_reference,
            query={"limit": limit},
            record_ids=[f"checkpoint/{c.seq}" for c in signed],
        )
        return [CheckpointOut.of(c) for c in signed]

    @router.post("/checkpoints", response_model=CheckpointOut, status_code=201, tags=["audit"])
    async def make_checkpoint(
        principal: Annotated[Principal, Depends(require(Action.VERIFY_AUDIT))],
        case_reference: CaseReference = "",
    ) -> CheckpointOut:
        """Verifies the chain, signs its head now and anchors it (the service also does so at an
        interval). The request is logged."""
        signed = await watch.checkpoint()
        if signed is None:
            result = await watch.check()
            refusal = (
                f"the chain does not verify (row {result.first_broken_seq}: {result.reason}); "
                "no checkpoint is signed over a broken chain"
                if not result.valid
                else "the log holds no rows yet; there is no head to sign"
            )
        await audit.record(
            principal,
            "audit_checkpoint",
            purpose=PURPOSE,
            case_reference=case_reference,
            target=f"checkpoint/{signed.seq}" if signed else "",
            detail=f"signed the head at seq {signed.seq}" if signed else f"none signed: {refusal}",
        )
        if signed is None:
            raise Problem(409, "Chain broken" if not result.valid else "Empty log", refusal)
        return CheckpointOut.of(signed)

    @router.get("/events", response_model=list[AuditEventOut], tags=["audit"])
    async def events(
        principal: Annotated[Principal, Depends(require(Action.READ_AUDIT))],
        actor: str | None = None,
        action: str | None = None,
        case_reference: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEventOut]:
        _check_period(since, until, ("since", "until"))
        rows = await log.search(
            actor=actor, action=action, case_reference=case_reference, since=since, until=until, limit=limit
        )
        # Reading the log is itself a consultation, and is logged.
        await audit.record(
            principal,
            "search",
            purpose="audit",
            query={
                "actor": actor,
                "action": action,
                "case_reference": case_reference,
                "since": since,
                "until": until,
                "limit": limit,
            },
            record_ids=[row.event_id for row in rows],
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
        principal: Annotated[Principal, Depends(require(Action.READ_AUDIT))],
        since: Since = None,
        until: Until = None,
        format: ExportFormat = ExportFormat.JSONL,  # noqa: A002 - the query parameter's name
    ) -> StreamingResponse:
        """The period's rows, with what is needed to verify them offline (`anpr audit verify FILE`).

        Rows are those the log recorded in [from, to). The export is itself audited (action
        `export`, recipient: who asked) before a byte leaves.
        """
        period = await period_seqs(since, until)
        signed: list[Checkpoint] = []
        verified, reason = True, "the log recorded nothing in this period"
        if period is not None:
            first, last = period
            result = await watch.verify(after_seq=first - 1, last_seq=last)
            verified, reason = result.valid, result.reason
            signed = await log.checkpoints(first, last)
            if result.valid and (not signed or signed[-1].seq != last):
                # Vouch for the segment's end, so the export verifies on its own.
                closing = await watch.checkpoint_at(last, result.head_hash)
                if closing is not None:
                    signed.append(closing)
        event = audit.event(
            principal,
            "export",
            purpose="audit",
            query={"from": since, "to": until, "format": format.value},
            recipients=[principal.subject],
            detail=f"audit rows seq {period[0]}..{period[1]}" if period else "no rows",
        )
        event.record_count = period[1] - period[0] + 1 if period else 0
        await publish(event)
        header = header_record(
            public_key=watch.public_key,
            zone_id=zone_id,
            since=since,
            until=until,
            first_seq=period[0] if period else None,
            last_seq=period[1] if period else None,
            exported_at=utcnow(),
            exported_by=principal.subject,
            verified=verified,
            reason=reason,
        )

        async def lines() -> AsyncIterator[str]:
            emit = jsonl if format is ExportFormat.JSONL else csv_record
            if format is ExportFormat.CSV:
                yield csv_header_line()
            yield emit(header)
            for checkpoint in signed:
                yield emit(checkpoint_record(checkpoint))
            if period is None:
                return
            async for rows in log.stored_rows(period[0] - 1, period[1], batch=5000):
                yield "".join(emit(row_record(row)) for row in rows)

        media = NDJSON if format is ExportFormat.JSONL else CSV
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            lines(),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="audit-{zone_id}-{stamp}.{format.value}"'},
        )

    return router
