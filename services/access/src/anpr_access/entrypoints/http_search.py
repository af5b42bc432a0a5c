"""Routes of lawful search: passages with their reads, the reads' images, the zone's hits, traffic
statistics (passages, not reads)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from anpr_access.domain.search import SearchRequest
from anpr_access.domain.stats import Bucket, as_csv
from anpr_access.entrypoints.deps import (
    HitViewer,
    ImageViewer,
    Justified,
    SearchDeps,
    Searcher,
    StatsViewer,
)
from anpr_access.entrypoints.schemas import (
    Direction,
    HitOut,
    ImageKind,
    PassageOut,
    PassagePage,
    TrafficReport,
)
from anpr_access.handlers import search
from anpr_core.db import MAX_ROW_OFFSET
from anpr_core.events import utcnow

router = APIRouter(prefix="/v1")


@router.get("/passages", response_model=PassagePage, tags=["search"])
async def search_passages(
    principal: Searcher,
    why: Justified,
    ports: SearchDeps,
    plate: Annotated[str | None, Query(max_length=32)] = None,
    fuzzy: Annotated[
        bool, Query(description="match OCR-confusable characters (0/O/D/Q, 1/I/L, ...)")
    ] = False,
    camera_id: Annotated[str | None, Query(max_length=64)] = None,
    direction: Direction | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PassagePage:
    asked = SearchRequest(
        plate, fuzzy, camera_id, direction.value if direction else None, since, until, offset, limit
    )
    page = await search.search_passages(ports, principal, why, asked, utcnow())
    return PassagePage(
        items=[PassageOut.model_validate(asdict(item)) for item in page.items],
        offset=offset,
        limit=limit,
        next_offset=page.next_offset,
        legal_tier=page.legal_tier,
        total=page.total,
        total_exact=page.total_exact,
    )


@router.get(
    "/passages/{event_id}/image",
    tags=["search"],
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def passage_image(
    event_id: str, principal: ImageViewer, why: Justified, ports: SearchDeps, kind: ImageKind = ImageKind.CROP
) -> Response:
    image = await search.view_image(ports, principal, why, event_id, kind.value, utcnow())
    return Response(content=image, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/hits", response_model=list[HitOut], tags=["hits"])
async def zone_hits(
    principal: HitViewer,
    ports: SearchDeps,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[HitOut]:
    """Hits of the caller's own zone, newest first (operators see no history search)."""
    found = await search.zone_hits(ports, principal, since, limit, utcnow())
    return [HitOut(**{k: v for k, v in asdict(hit).items() if k in HitOut.model_fields}) for hit in found]


@router.get(
    "/stats/traffic",
    response_model=TrafficReport,
    tags=["statistics"],
    responses={200: {"content": {"text/csv": {}}}},
)
async def traffic_statistics(
    principal: StatsViewer,
    ports: SearchDeps,
    since: Annotated[datetime, Query(alias="from")],
    until: Annotated[datetime, Query(alias="to")],
    bucket: Bucket = Bucket.HOUR,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",  # noqa: A002 - the public name
) -> Any:
    """Passages in and out of the zone per camera and per hour or day. No plates."""
    rows = await search.traffic_statistics(ports, principal, since, until, bucket, format)
    if format == "csv":
        return Response(
            content=as_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="traffic.csv"'},
        )
    return TrafficReport(bucket=bucket, since=since, until=until, rows=rows)
