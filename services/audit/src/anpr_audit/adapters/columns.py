"""What the log stores beside each event's content, derived from the event. No I/O.

The appender stores these values and hashes them with the content; the offline verifier derives
them again from the content, so a row whose columns say something else than its event shows.
"""

from __future__ import annotations

from anpr.v1 import audit_pb2

# The stored columns' lengths: each value is cut to them before it is hashed, on every database.
LENGTHS = {
    "actor_user": 200,
    "actor_role": 32,
    "action": 32,
    "service": 32,
    "outcome": 16,
    "case_reference": 100,
}


def canonical_bytes(event: audit_pb2.AuditEvent) -> bytes:
    return event.SerializeToString(deterministic=True)


def _stored(value: str, length: int | None = None) -> str:
    # PostgreSQL text holds no NUL, and the hash joins the columns on NUL.
    value = value.replace("\x00", "\ufffd")
    return value[:length] if length is not None else value


def row_columns(event: audit_pb2.AuditEvent) -> tuple[str, ...]:
    """The values stored beside the content, in chain.COLUMNS' order, as the appender stores them."""
    return (
        _stored(event.meta.event_id),
        _stored(event.actor.user_id, LENGTHS["actor_user"]),
        _stored(event.actor.role, LENGTHS["actor_role"]),
        _stored(event.action, LENGTHS["action"]),
        _stored(event.service, LENGTHS["service"]),
        _stored(event.outcome, LENGTHS["outcome"]),
        _stored(event.case_reference, LENGTHS["case_reference"]),
    )


def occurred_us(event: audit_pb2.AuditEvent) -> int:
    """When the event happened, in microseconds since the epoch, as the log stores it."""
    stamp = event.meta.occurred_at
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000
