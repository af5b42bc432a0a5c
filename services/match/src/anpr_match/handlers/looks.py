"""Every look at hits and at the hotlist is audited (who, why, what was asked, which records were
seen) before it is answered; a look the audit log cannot record is not answered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from anpr_core.auditing import AuditTrail
from anpr_core.auth import Principal
from anpr_core.bus import BusUnavailable
from anpr_match.domain.errors import NotFound, Unavailable
from anpr_match.domain.operators import Justification


async def record_look(
    audit: AuditTrail,
    principal: Principal,
    action: str,
    why: Justification,
    query: dict[str, Any],
    record_ids: Sequence[str] = (),
    **fields: Any,
) -> None:
    """Audits a look (who, why, what was asked, which records were seen) before it is answered."""
    try:
        await audit.record(
            principal, action, query=query, record_ids=record_ids, **why.audit_fields(), **fields
        )
    except BusUnavailable as error:
        raise Unavailable(
            "the look could not be written to the audit log, so nothing is shown; retry"
        ) from error


async def not_found(
    audit: AuditTrail,
    principal: Principal,
    action: str,
    why: Justification,
    query: dict[str, Any],
    detail: str,
) -> NotFound:
    """A look at what does not exist: audited as refused, answered 404."""
    await record_look(audit, principal, action, why, query, outcome="refused", detail=detail)
    return NotFound(detail)
