"""REST: the hotlists and the rules their entries match by."""

from __future__ import annotations

from fastapi import APIRouter

from anpr_core.problems import Problem
from anpr_match.entrypoints.deps import Hotlist, HotlistManager, HotlistViewer
from anpr_match.entrypoints.schemas import ListIn, ListOut
from anpr_match.handlers import lists

router = APIRouter(prefix="/v1", tags=["lists"])


@router.post("/lists", status_code=201, response_model=ListOut)
async def create_list(body: ListIn, principal: HotlistManager, ports: Hotlist) -> ListOut:
    return ListOut.of(await lists.save_list(ports, principal, body.rules(), create=True))


@router.put("/lists/{name}", response_model=ListOut)
async def change_list(name: str, body: ListIn, principal: HotlistManager, ports: Hotlist) -> ListOut:
    if body.name != name:
        raise Problem(422, "Invalid list", f"the body names list {body.name!r}, the path {name!r}")
    return ListOut.of(await lists.save_list(ports, principal, body.rules(), create=False))


@router.get("/lists", response_model=list[ListOut])
async def list_lists(_principal: HotlistViewer, ports: Hotlist) -> list[ListOut]:
    return [ListOut.of(rules) for rules in await lists.all_lists(ports)]


@router.get("/lists/{name}", response_model=ListOut)
async def get_list(name: str, _principal: HotlistViewer, ports: Hotlist) -> ListOut:
    return ListOut.of(await lists.one_list(ports, name))
