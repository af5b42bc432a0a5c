"""The hits' commands and reads: hits looked at (audited: the list, one hit, the live stream and each
hit it shows) and an operator's verdict on a hit (stored, counted, audited)."""

from __future__ import annotations

from typing import Any

from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_core.metrics import HIT_ACKS, HIT_FALSE_ALARM_RATIO
from anpr_match.domain.errors import Conflict, NotFound
from anpr_match.domain.operators import AckOutcome, Justification
from anpr_match.handlers.context import HitPorts
from anpr_match.handlers.looks import not_found, record_look


async def list_hits(
    ports: HitPorts,
    principal: Principal,
    why: Justification,
    *,
    list_name: str | None,
    camera_id: str | None,
    unacknowledged: bool,
    limit: int,
) -> list[dict[str, Any]]:
    """The newest hits (as stored rows), by list, camera and whether acknowledged yet."""
    found = await ports.hits.latest(
        list_name=list_name, camera_id=camera_id, unacknowledged=unacknowledged, limit=limit
    )
    query = {
        "view": "list",
        "list_name": list_name,
        "camera_id": camera_id,
        "unacknowledged": unacknowledged,
        "limit": limit,
    }
    await record_look(ports.audit, principal, "view_hits", why, query, [hit["hit_id"] for hit in found])
    return found


async def one_hit(ports: HitPorts, principal: Principal, why: Justification, hit_id: str) -> dict[str, Any]:
    query = {"view": "hit", "hit_id": hit_id}
    hit = await ports.hits.hit(hit_id)
    if hit is None:
        raise await not_found(ports.audit, principal, "view_hits", why, query, f"hit {hit_id} does not exist")
    await record_look(ports.audit, principal, "view_hits", why, query, [hit_id])
    return hit


async def open_stream(
    ports: HitPorts, principal: Principal, why: Justification, query: dict[str, Any]
) -> None:
    """The live stream opened: audited before anything is sent."""
    await record_look(ports.audit, principal, "view_hits", why, query)


async def show_streamed_hit(
    ports: HitPorts, principal: Principal, why: Justification, query: dict[str, Any], hit_id: str
) -> None:
    """A hit about to be sent on the live stream: audited as seen by the caller first."""
    await record_look(ports.audit, principal, "view_hits", why, {**query, "sent": "hit"}, [hit_id])


async def acknowledge_hit(
    ports: HitPorts, principal: Principal, hit_id: str, outcome: AckOutcome, reason: str
) -> dict[str, Any]:
    """Records an operator's verdict on a hit once; returns the hit with it."""
    now = utcnow()
    async with ports.hits.verdict() as verdict:
        hit = await verdict.hit(hit_id)
        if hit is None:
            raise NotFound(f"hit {hit_id} does not exist")
        if hit["ack_outcome"] is not None:
            raise Conflict(f"hit {hit_id} was acknowledged as {hit['ack_outcome']} by {hit['ack_by']}")
        acked = {
            "ack_outcome": outcome.value,
            "ack_reason": reason,
            "ack_by": principal.subject,
            "ack_at": now,
        }
        await verdict.record(hit_id, acked)
        acknowledged, false_alarms = await verdict.counts(hit["list_name"], hit["camera_id"])
    HIT_ACKS.labels(hit["list_name"], hit["camera_id"], outcome.value).inc()
    if acknowledged:
        HIT_FALSE_ALARM_RATIO.labels(hit["list_name"], hit["camera_id"]).set(false_alarms / acknowledged)
    await ports.audit.record(
        principal,
        "hit_ack",
        purpose=hit["category"],
        query={"outcome": outcome.value, "reason": reason, "list_name": hit["list_name"]},
        record_ids=[hit_id],
    )
    return {**hit, **acked}
