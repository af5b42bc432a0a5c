"""Route of a hit's images: the crop or overview of the read that raised one hit, for those who
follow hits."""

from __future__ import annotations

from fastapi import APIRouter, Response

from anpr_access.domain.hit_images import JPEG, OCTET_STREAM, PNG
from anpr_access.entrypoints.deps import HitImageDeps, HitViewer, LookingAtHit
from anpr_access.entrypoints.schemas import ImageKind
from anpr_access.handlers.hit_images import view_hit_image
from anpr_core.events import utcnow

router = APIRouter(prefix="/v1", tags=["hits"])

_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/hits/{hit_id}/images/{kind}",
    response_class=Response,
    responses={
        200: {
            "description": "the image as stored (JPEG or PNG)",
            "content": {JPEG: _IMAGE, PNG: _IMAGE, OCTET_STREAM: _IMAGE},
        },
        403: {"description": "past the first month: a judicial purpose with its references is needed"},
        404: {"description": "no such hit in the zone, its read is not stored, or it has no such image"},
    },
)
async def hit_image(
    hit_id: str, kind: ImageKind, principal: HitViewer, look: LookingAtHit, ports: HitImageDeps
) -> Response:
    """The plate crop (`crop`) or the overview frame (`overview`) of the read that raised this hit:
    this hit's only, never another read's. Within the first month any purpose (default operational)
    reaches it; past it, only a judicial one with the prosecutor's written decision. Every view is
    audited (view_image: the hit, the read, the purpose, the outcome)."""
    image, media_type = await view_hit_image(ports, principal, look, hit_id, kind.value, utcnow())
    return Response(content=image, media_type=media_type, headers={"Cache-Control": "no-store"})
