"""Lawful search: passages (each with its reads) by plate, camera and window; a read's image; the
zone's hits; traffic statistics of passages. Every look is audited, refused attempts too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from anpr_access.domain.errors import Invalid, NotFound
from anpr_access.domain.legal import Justification, LegalTier, SearchRefused
from anpr_access.domain.records import HitRecord, PassageView
from anpr_access.domain.search import ReadCriteria, SearchRequest, search_key
from anpr_access.domain.stats import Bucket, TrafficRow, traffic
from anpr_access.ports import SearchPorts
from anpr_core.auth import Principal
from anpr_core.plates import normalise_plate

MAX_STATS_SPAN = timedelta(days=366)
# How far a search's total is counted; past it the answer says "more than COUNT_CAP". Counting costs
# up to the cap's worth of index entries (bench/bench_search_total.py).
COUNT_CAP = 10_000


@dataclass(frozen=True)
class SearchPage:
    items: list[PassageView]
    next_offset: int | None
    legal_tier: LegalTier
    # Passages over all pages; when total_exact is False there are more than `total` (COUNT_CAP).
    total: int
    total_exact: bool


async def check_justified(
    ports: SearchPorts,
    principal: Principal,
    action: str,
    why: Justification,
    query: dict[str, Any],
    window: tuple[datetime, datetime],
    now: datetime,
) -> LegalTier:
    """The oldest tier the window reaches into, or SearchRefused, audited as a refused attempt."""
    try:
        if why.purpose is None:
            raise SearchRefused("every search needs its purpose: administrative or judicial")
        return ports.policy.check_search(
            purpose=why.purpose,
            case_reference=why.case_reference,
            legal_basis=why.legal_basis,
            prosecutor_decision=why.prosecutor_decision,
            window_start=window[0],
            window_end=window[1],
            now=now,
        )
    except SearchRefused as refusal:
        # A refused attempt is audited too: the COC sees who tried what.
        await ports.audit.record(
            principal, action, query=query, outcome="refused", detail=str(refusal), **why.audit_fields()
        )
        raise


async def search_passages(
    ports: SearchPorts, principal: Principal, why: Justification, asked: SearchRequest, now: datetime
) -> SearchPage:
    window_start, window_end = asked.window(now, ports.policy.first_tier)
    query = asked.audit_query(window_start, window_end)

    async def refuse(reason: str) -> SearchRefused:
        await ports.audit.record(
            principal, "search", query=query, outcome="refused", detail=reason, **why.audit_fields()
        )
        return SearchRefused(reason)

    if why.purpose is not None and not (asked.plate and normalise_plate(asked.plate)) and not asked.camera_id:
        raise await refuse("give a plate or a camera_id to search by")
    if window_start.tzinfo is None or window_end.tzinfo is None:
        raise await refuse("since and until need a timezone offset, e.g. 2026-11-01T00:00:00Z")
    tier = await check_justified(ports, principal, "search", why, query, (window_start, window_end), now)
    criteria = ReadCriteria(
        window_start=max(window_start, now - ports.policy.retention),
        window_end=window_end,
        plate=normalise_plate(asked.plate) if asked.plate and not asked.fuzzy else None,
        plate_key=search_key(asked.plate, ports.confusables) if asked.plate and asked.fuzzy else None,
        camera_id=asked.camera_id,
        direction=asked.direction,
        offset=asked.offset,
        limit=asked.limit,
    )
    rows = await ports.store.find_passages(criteria)
    items = rows[: asked.limit]
    total, exact = await search_total(ports, criteria, len(rows))
    seen = [record for item in items for record in item.record_ids]
    await ports.audit.record(principal, "search", query=query, record_ids=seen, **why.audit_fields())
    return SearchPage(
        items=items,
        next_offset=asked.offset + asked.limit if len(rows) > asked.limit else None,
        legal_tier=tier,
        total=total,
        total_exact=exact,
    )


async def search_total(ports: SearchPorts, criteria: ReadCriteria, found: int) -> tuple[int, bool]:
    """Passages over all pages, and whether that is exact (else: more than COUNT_CAP). A last page
    tells it without a count."""
    if found <= criteria.limit and (found or not criteria.offset):
        return criteria.offset + found, True
    counted = await ports.totals.count_passages(criteria, COUNT_CAP)
    return min(counted, COUNT_CAP), counted <= COUNT_CAP


async def view_image(
    ports: SearchPorts, principal: Principal, why: Justification, event_id: str, kind: str, now: datetime
) -> bytes:
    """A read's plate crop (`kind` crop) or overview frame, under the tiers of the read's own age: the
    images of a passage are its reads', each view audited."""
    query: dict[str, Any] = {"event_id": event_id, "kind": kind}

    async def refuse(reason: str) -> None:
        await ports.audit.record(
            principal, "view_image", query=query, outcome="refused", detail=reason, **why.audit_fields()
        )

    found = await ports.store.read_images(event_id, not_before=now - ports.policy.retention)
    if found is None:
        await refuse("no such passage")
        raise NotFound(f"no passage {event_id} (it may have passed retention)")
    if found.passage_id:
        query["passage_id"] = found.passage_id
    # The image of a read is as old as the read: the same tiers apply.
    moment = found.captured_at
    await check_justified(
        ports, principal, "view_image", why, query, (moment, moment + timedelta(microseconds=1)), now
    )
    image = found.plate_crop if kind == "crop" else found.overview
    if image is None:
        await refuse(f"no {kind} stored")
        raise NotFound(f"passage {event_id} has no {kind} image stored")
    await ports.audit.record(
        principal, "view_image", query=query, record_ids=[event_id], **why.audit_fields()
    )
    return image


async def zone_hits(
    ports: SearchPorts, principal: Principal, since: datetime | None, limit: int, now: datetime
) -> list[HitRecord]:
    """Hits of the caller's own zone, newest first, within the first tier."""
    window_start = since or (now - timedelta(days=1))
    if window_start.tzinfo is None:
        raise Invalid("since needs a timezone offset, e.g. 2026-11-01T00:00:00Z")
    window_start = max(window_start, now - ports.policy.first_tier)
    found = await ports.store.zone_hits(principal.zone_id, window_start, limit)
    await ports.audit.record(
        principal,
        "view_hits",
        query={"zone_id": principal.zone_id, "since": window_start, "limit": limit},
        record_ids=[hit.hit_id for hit in found],
    )
    return found


async def traffic_statistics(
    ports: SearchPorts, principal: Principal, since: datetime, until: datetime, bucket: Bucket, format: str
) -> list[TrafficRow]:
    """Passages (vehicles, never reads) in and out per camera and bucket; no plates."""
    if since.tzinfo is None or until.tzinfo is None:
        raise Invalid("from and to need a timezone offset, e.g. 2026-11-01T00:00:00Z")
    if until <= since:
        raise Invalid("the time window is empty: `to` must be after `from`")
    if until - since > MAX_STATS_SPAN:
        raise Invalid(f"ask for at most {MAX_STATS_SPAN.days} days at a time")
    rows = traffic(await ports.store.traffic_counts(since, until, bucket), bucket)
    await ports.audit.record(
        principal, "view_stats", query={"from": since, "to": until, "bucket": bucket.value, "format": format}
    )
    return rows
