"""What the bus carries to the audit log: each event appended to the chain once; an action the log
does not know is appended like any other and counted, never refused (domain.actions)."""

from __future__ import annotations

from collections.abc import Sequence

from anpr.v1 import audit_pb2
from anpr_audit.adapters.appender import AuditAppender
from anpr_audit.domain.actions import is_known
from anpr_core.metrics import AUDIT_APPENDED, AUDIT_UNKNOWN_ACTIONS

# The services whose unknown actions are counted under their own name; any other is "other".
_SERVICES = frozenset({"ingest", "detect", "match", "audit", "access", "sharing"})


async def append_events(
    appender: AuditAppender, events: Sequence[audit_pb2.AuditEvent]
) -> list[audit_pb2.AuditEvent]:
    """Appends the events in order, in one transaction; returns those that were new."""
    appended = await appender.append_batch(events)
    AUDIT_APPENDED.inc(len(appended))
    for event in appended:
        if not is_known(event.action):
            AUDIT_UNKNOWN_ACTIONS.labels(event.service if event.service in _SERVICES else "other").inc()
    return appended
