"""REST: hits (the newest, one, the live stream) and operators' verdicts on them."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query

from anpr_core.openapi import EventStreamResponse, event_stream_route
from anpr_match.entrypoints.deps import HitAcknowledger, Hits, HitViewer, Looking, Stream
from anpr_match.entrypoints.schemas import AckIn, HitOut
from anpr_match.entrypoints.stream import hit_events
from anpr_match.handlers import hits

router = APIRouter(prefix="/v1", tags=["hits"])


@router.get("/hits", response_model=list[HitOut])
async def list_hits(
    principal: HitViewer,
    why: Looking,
    ports: Hits,
    list_name: Annotated[str | None, Query(max_length=64)] = None,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    unacknowledged: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[HitOut]:
    found = await hits.list_hits(
        ports,
        principal,
        why,
        list_name=list_name,
        camera_id=camera_id,
        unacknowledged=unacknowledged,
        limit=limit,
    )
    return [HitOut.of(hit) for hit in found]


@router.get(
    "/hits/stream",
    **event_stream_route(
        "Server-Sent Events: `event: hit` with the hit as JSON (its id as the event id), comments as "
        "keep-alive, `event: overflow` or `event: unavailable` before the stream ends"
    ),
)
async def stream_hits(
    principal: HitViewer,
    why: Looking,
    ports: Hits,
    stream: Stream,
    limit: Annotated[int | None, Query(ge=1, description="Close after this many hits")] = None,
    heartbeat_s: Annotated[float, Query(gt=0, le=60)] = 15.0,
) -> EventStreamResponse:
    """Hits as they are raised, as Server-Sent Events (`event: hit`, data: the hit as JSON).

    The opening is audited, and each hit is audited as seen by the caller before it is sent.
    """
    query: dict[str, Any] = {"view": "stream", "limit": limit, "heartbeat_s": heartbeat_s}
    await hits.open_stream(ports, principal, why, query)
    shown = functools.partial(hits.show_streamed_hit, ports, principal, why, query)
    return EventStreamResponse(hit_events(stream, shown, limit=limit, heartbeat_s=heartbeat_s))


@router.get("/hits/{hit_id}", response_model=HitOut)
async def get_hit(hit_id: str, principal: HitViewer, why: Looking, ports: Hits) -> HitOut:
    return HitOut.of(await hits.one_hit(ports, principal, why, hit_id))


@router.post("/hits/{hit_id}/ack", response_model=HitOut)
async def acknowledge_hit(hit_id: str, body: AckIn, principal: HitAcknowledger, ports: Hits) -> HitOut:
    return HitOut.of(await hits.acknowledge_hit(ports, principal, hit_id, body.outcome, body.reason))
