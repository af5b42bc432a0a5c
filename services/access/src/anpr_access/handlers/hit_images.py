"""A hit's images for those who follow hits (operators, investigators, supervisors): the crop or the
overview of the read that raised that hit, within the legal tiers of the read's age. Every view is
audited, refused ones too, with the hit, the read and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from anpr_access.domain.errors import NotFound
from anpr_access.domain.hit_images import HitLook, check_hit_look, media_type
from anpr_access.domain.legal import SearchRefused
from anpr_access.ports import HitImagePorts
from anpr_core.auth import Principal


async def view_hit_image(
    ports: HitImagePorts, principal: Principal, look: HitLook, hit_id: str, kind: str, now: datetime
) -> tuple[bytes, str]:
    """The image (`kind` crop or overview) of the read that raised hit `hit_id`, with its media type."""
    query: dict[str, Any] = {"view": "hit", "hit_id": hit_id, "kind": kind}

    async def refused(reason: str) -> None:
        await ports.audit.record(
            principal, "view_image", query=query, outcome="refused", detail=reason, **look.audit_fields()
        )

    found = await ports.store.hit_images(hit_id, principal.zone_id, not_before=now - ports.policy.retention)
    if found is None:
        await refused("no such hit")
        raise NotFound(f"no hit {hit_id} in zone {principal.zone_id} (it may have passed retention)")
    query["read_event_id"] = found.read_event_id
    try:
        check_hit_look(ports.policy, look, found.captured_at, now)
    except SearchRefused as refusal:
        await refused(str(refusal))
        raise
    if not found.read_stored:
        await refused("the read is not stored")
        raise NotFound(f"the read of hit {hit_id} is not stored here (not arrived yet, or past retention)")
    image = found.plate_crop if kind == "crop" else found.overview
    if image is None:
        await refused(f"no {kind} stored")
        raise NotFound(f"the read of hit {hit_id} has no {kind} image stored")
    await ports.audit.record(
        principal, "view_image", query=query, record_ids=[found.read_event_id], **look.audit_fields()
    )
    return image, media_type(image)
