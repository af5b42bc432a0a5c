"""REST: the hotlist's entries, one by one and in bulk (CSV import and export)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from anpr_core.db import MAX_ROW_OFFSET
from anpr_core.problems import Problem
from anpr_match.domain.hotlist_csv import export_lines
from anpr_match.entrypoints.deps import Exporting, Hotlist, HotlistManager, HotlistViewer, Looking
from anpr_match.entrypoints.schemas import EntryChange, EntryIn, EntryOut, ExpiryIn, ImportOut
from anpr_match.handlers import bulk, entries

router = APIRouter(prefix="/v1", tags=["hotlist"])


@router.post("/hotlist", status_code=201, response_model=EntryOut)
async def create_entry(body: EntryIn, principal: HotlistManager, ports: Hotlist) -> EntryOut:
    return EntryOut.of(await entries.create_entry(ports, principal, body.request()))


@router.patch("/hotlist/{entry_id}", response_model=EntryOut)
async def update_entry(
    entry_id: str, body: EntryChange, principal: HotlistManager, ports: Hotlist
) -> EntryOut:
    return EntryOut.of(
        await entries.update_entry(ports, principal, entry_id, body.changes(), body.reason or "")
    )


@router.post("/hotlist/{entry_id}/expire", response_model=EntryOut)
async def expire_entry(entry_id: str, body: ExpiryIn, principal: HotlistManager, ports: Hotlist) -> EntryOut:
    return EntryOut.of(await entries.expire_entry(ports, principal, entry_id, body.reason))


@router.get("/hotlist", response_model=list[EntryOut])
async def list_entries(
    principal: HotlistViewer,
    why: Looking,
    ports: Hotlist,
    plate: Annotated[str | None, Query(max_length=32)] = None,
    list_name: Annotated[str | None, Query(max_length=64)] = None,
    in_force: Annotated[bool | None, Query(description="Only entries in force now (or not)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_OFFSET)] = 0,
) -> list[EntryOut]:
    found = await entries.list_entries(
        ports, principal, why, plate=plate, list_name=list_name, in_force=in_force, limit=limit, offset=offset
    )
    return [EntryOut.of(state) for state in found]


@router.post(
    "/hotlist/import",
    status_code=201,
    response_model=ImportOut,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def import_entries(request: Request, principal: HotlistManager, ports: Hotlist) -> ImportOut:
    """All or nothing: every line is checked first; one bad line and nothing is imported."""
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Problem(422, "Invalid CSV", f"the file is not UTF-8 ({error}); save it as UTF-8") from error
    imported = await bulk.import_hotlist(ports, principal, text)
    return ImportOut(imported=imported.count, lists=imported.lists)


@router.get(
    "/hotlist/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The entries as CSV (header line: the import's columns, then entry_id, "
            "source_zone and entered_by), as an attachment",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def export_entries(
    principal: HotlistViewer,
    why: Exporting,
    ports: Hotlist,
    list_name: Annotated[str | None, Query(max_length=64)] = None,
) -> StreamingResponse:
    """The entries as CSV: a disclosure, so it states why (purpose), for what (case_reference)
    and to whom (recipient), and is audited as an export with every entry's id."""
    exported = await bulk.export_hotlist(ports, principal, why, list_name)
    return StreamingResponse(
        iter(export_lines(exported)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="hotlist.csv"'},
    )


@router.get("/hotlist/{entry_id}", response_model=EntryOut)
async def get_entry(entry_id: str, principal: HotlistViewer, why: Looking, ports: Hotlist) -> EntryOut:
    return EntryOut.of(await entries.one_entry(ports, principal, why, entry_id))
