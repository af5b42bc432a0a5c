"""The auditor's requests: verifying the log, its key and checkpoints, reading and exporting its rows.

Every look at the log is itself a row of the log (who, role, why): verifying it, reading or asking
for checkpoints, reading or exporting its rows. The purpose is always the audit itself (the
supervision of the processing by the COC, the DPO or the administrator); a case or file number
may be given with `case_reference`. Only the public key, which anyone may hold, is not logged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from anpr.v1 import audit_pb2
from anpr_audit.adapters.audit_log import AuditLog, AuditRow
from anpr_audit.adapters.export_file import ExportFormat, export_lines, header_record
from anpr_audit.adapters.signing import public_pem
from anpr_audit.domain.checkpoints import ChainBroken, Checkpoint, EmptyLog, NothingSigned
from anpr_audit.domain.period import check_period
from anpr_audit.domain.verification import Verification
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_core.metrics import AUDIT_CHAIN_VALID

PURPOSE = "audit"


@dataclass(frozen=True)
class AuditPorts:
    """What the auditor's handlers use: the log, its watch, the trail each look is audited on, the
    zone, and how an event made here is published on the audit topic."""

    log: AuditLog
    watch: ChainWatch
    trail: AuditTrail
    zone_id: str
    publish: Callable[[audit_pb2.AuditEvent], Awaitable[None]]


@dataclass(frozen=True)
class PeriodVerification:
    """The verdict, and the seqs of the period verified (None: the whole log, or nothing recorded)."""

    result: Verification
    period: tuple[int, int] | None = None


@dataclass(frozen=True)
class AuditExport:
    """An export, streamed line by line when read, under the file name it is handed out as."""

    lines: AsyncIterator[str]
    filename: str


async def _period_seqs(
    log: AuditLog, since: datetime | None, until: datetime | None
) -> tuple[int, int] | None:
    check_period(since, until)
    return await log.seq_range(since, until)


async def verify_log(
    ports: AuditPorts,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    case_reference: str,
) -> PeriodVerification:
    """Recomputes the chain (or a period's rows, from the row before it) against the checkpoints and
    the anchors; raises InvalidPeriod before anything is read."""
    if since is None and until is None:
        result = await ports.watch.verify()
        AUDIT_CHAIN_VALID.set(1 if result.valid else 0)
        verdict = PeriodVerification(result)
    else:
        period = await _period_seqs(ports.log, since, until)
        if period is None:
            verdict = PeriodVerification(
                Verification(True, 0, reason="the log recorded nothing in this period")
            )
        else:
            first, last = period
            verdict = PeriodVerification(await ports.watch.verify(after_seq=first - 1, last_seq=last), period)
    result = verdict.result
    await ports.trail.record(
        principal,
        "audit_verify",
        purpose=PURPOSE,
        case_reference=case_reference,
        query={"from": since, "to": until},
        detail=(
            f"valid={result.valid} rows_checked={result.rows_checked} head_seq={result.head_seq} "
            f"first_broken_seq={result.first_broken_seq}"
        ),
    )
    return verdict


def public_key_pem(ports: AuditPorts) -> str:
    return public_pem(ports.watch.public_key)


async def list_checkpoints(
    ports: AuditPorts, principal: Principal, limit: int, case_reference: str
) -> list[Checkpoint]:
    """The newest signed checkpoints kept in the database."""
    signed = (await ports.log.checkpoints())[-limit:]
    await ports.trail.record(
        principal,
        "audit_checkpoints",
        purpose=PURPOSE,
        case_reference=case_reference,
        query={"limit": limit},
        record_ids=[f"checkpoint/{c.seq}" for c in signed],
    )
    return signed


async def make_checkpoint(ports: AuditPorts, principal: Principal, case_reference: str) -> Checkpoint:
    """Verifies the chain, signs its head now and anchors it; the request is audited, and then a
    broken chain raises ChainBroken, an empty log EmptyLog."""
    signed = await ports.watch.checkpoint()
    if signed is not None:
        await ports.trail.record(
            principal,
            "audit_checkpoint",
            purpose=PURPOSE,
            case_reference=case_reference,
            target=f"checkpoint/{signed.seq}",
            detail=f"signed the head at seq {signed.seq}",
        )
        return signed
    result = await ports.watch.check()
    refusal: NothingSigned = (
        ChainBroken(
            f"the chain does not verify (row {result.first_broken_seq}: {result.reason}); "
            "no checkpoint is signed over a broken chain"
        )
        if not result.valid
        else EmptyLog("the log holds no rows yet; there is no head to sign")
    )
    await ports.trail.record(
        principal,
        "audit_checkpoint",
        purpose=PURPOSE,
        case_reference=case_reference,
        target="",
        detail=f"none signed: {refusal}",
    )
    raise refusal


async def search_events(
    ports: AuditPorts,
    principal: Principal,
    *,
    actor: str | None,
    action: str | None,
    case_reference: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[AuditRow]:
    """The log's rows that match; raises InvalidPeriod (naming since/until) before anything is read."""
    check_period(since, until, ("since", "until"))
    rows = await ports.log.search(
        actor=actor, action=action, case_reference=case_reference, since=since, until=until, limit=limit
    )
    # Reading the log is itself a consultation, and is logged.
    await ports.trail.record(
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
    return rows


async def export_log(
    ports: AuditPorts,
    principal: Principal,
    since: datetime | None,
    until: datetime | None,
    export_format: ExportFormat,
) -> AuditExport:
    """The period's rows, with what is needed to verify them offline.

    Rows are those the log recorded in [since, until). The export is itself audited (action
    `export`, recipient: who asked) before a byte leaves.
    """
    watch = ports.watch
    period = await _period_seqs(ports.log, since, until)
    signed: list[Checkpoint] = []
    verified, reason = True, "the log recorded nothing in this period"
    if period is not None:
        first, last = period
        result = await watch.verify(after_seq=first - 1, last_seq=last)
        verified, reason = result.valid, result.reason
        signed = await ports.log.checkpoints(first, last)
        if result.valid and (not signed or signed[-1].seq != last):
            # Vouch for the segment's end, so the export verifies on its own.
            closing = await watch.checkpoint_at(last, result.head_hash)
            if closing is not None:
                signed.append(closing)
    event = ports.trail.event(
        principal,
        "export",
        purpose="audit",
        query={"from": since, "to": until, "format": export_format.value},
        recipients=[principal.subject],
        detail=f"audit rows seq {period[0]}..{period[1]}" if period else "no rows",
    )
    event.record_count = period[1] - period[0] + 1 if period else 0
    await ports.publish(event)
    header = header_record(
        public_key=watch.public_key,
        zone_id=ports.zone_id,
        since=since,
        until=until,
        first_seq=period[0] if period else None,
        last_seq=period[1] if period else None,
        exported_at=utcnow(),
        exported_by=principal.subject,
        verified=verified,
        reason=reason,
    )
    batches = ports.log.stored_rows(period[0] - 1, period[1], batch=5000) if period else None
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return AuditExport(
        export_lines(header, signed, batches, export_format),
        f"audit-{ports.zone_id}-{stamp}.{export_format.value}",
    )
