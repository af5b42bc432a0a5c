"""Emits audit events (who, what, why, to whom) onto the audit topic."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from anpr.v1 import audit_pb2
from anpr_core.auth import Principal
from anpr_core.bus import Bus
from anpr_core.events import new_meta

# Past this many records an event carries their count and digest rather than every id.
MAX_LISTED_RECORDS = 200


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def records_digest(record_ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(record_ids)).encode()).hexdigest()


class AuditTrail:
    def __init__(self, bus: Bus, topic: str, zone_id: str, service: str) -> None:
        self._bus = bus
        self._topic = topic
        self._zone_id = zone_id
        self._service = service

    def event(
        self,
        actor: Principal | None,
        action: str,
        *,
        purpose: str = "",
        case_reference: str = "",
        legal_basis: str = "",
        prosecutor_decision: str = "",
        query: Mapping[str, Any] | None = None,
        record_ids: Sequence[str] = (),
        recipients: Sequence[str] = (),
        outcome: str = "allowed",
        detail: str = "",
        target: str = "",
        changes: Mapping[str, Any] | None = None,
    ) -> audit_pb2.AuditEvent:
        listed = list(record_ids) if len(record_ids) <= MAX_LISTED_RECORDS else []
        return audit_pb2.AuditEvent(
            meta=new_meta(self._zone_id, self._service),
            actor=audit_pb2.Actor(
                user_id=actor.subject
                if actor
                else ("anonymous" if outcome == "refused" else f"service:{self._service}"),
                role=actor.role.value if actor else ("none" if outcome == "refused" else "system"),
                zone_id=actor.zone_id if actor else self._zone_id,
            ),
            action=action,
            purpose=purpose,
            case_reference=case_reference,
            legal_basis=legal_basis,
            prosecutor_decision=prosecutor_decision,
            query=canonical_json(query or {}),
            record_ids=listed,
            record_count=len(record_ids),
            records_digest=records_digest(record_ids) if record_ids else "",
            recipients=list(recipients),
            service=self._service,
            outcome=outcome,
            detail=detail,
            target=target,
            changes=canonical_json(changes) if changes is not None else "",
        )

    async def refused(self, actor: Principal | None, action: str, detail: str, path: str) -> None:
        """Audits an attempt that authentication or the role table refused."""
        await self.record(actor, action, query={"path": path}, outcome="refused", detail=detail)

    async def record(self, actor: Principal | None, action: str, **fields: Any) -> audit_pb2.AuditEvent:
        """Publishes the event and returns once the broker holds it."""
        event = self.event(actor, action, **fields)
        await self._bus.publish(self._topic, event.actor.user_id.encode(), event.SerializeToString())
        return event
