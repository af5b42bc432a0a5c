"""Routes of the DPO's handling of data-subject requests: register, locate, decide, execute, close."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from anpr_access.domain.dpo import RequestState
from anpr_access.domain.records import DpoRequest
from anpr_access.entrypoints.deps import Dpo, DpoDeps
from anpr_access.entrypoints.schemas import DecisionIn, RequestIn, RequestOut
from anpr_access.handlers import dpo
from anpr_core.events import utcnow

router = APIRouter(prefix="/v1/dpo", tags=["dpo"])


def _out(request: DpoRequest) -> RequestOut:
    values = {k: v for k, v in asdict(request).items() if k in RequestOut.model_fields}
    return RequestOut(**values, overdue=request.overdue(utcnow()))


@router.post("/requests", response_model=RequestOut, status_code=201)
async def register(principal: Dpo, ports: DpoDeps, request: RequestIn) -> RequestOut:
    new = dpo.NewRequest(**request.model_dump())
    return _out(await dpo.register_request(ports, principal, new, utcnow()))


@router.get("/requests", response_model=list[RequestOut])
async def list_requests(
    principal: Dpo, ports: DpoDeps, overdue: bool = False, state: RequestState | None = None
) -> list[RequestOut]:
    return [_out(r) for r in await dpo.list_requests(ports, overdue=overdue, state=state, now=utcnow())]


@router.get("/requests/{request_id}", response_model=RequestOut)
async def get_request(request_id: str, principal: Dpo, ports: DpoDeps) -> RequestOut:
    return _out(await dpo.get_request(ports, request_id))


@router.post("/requests/{request_id}/locate", response_model=RequestOut)
async def locate(request_id: str, principal: Dpo, ports: DpoDeps) -> RequestOut:
    return _out(await dpo.locate_records(ports, principal, request_id, utcnow()))


@router.post("/requests/{request_id}/decision", response_model=RequestOut)
async def decide(request_id: str, principal: Dpo, ports: DpoDeps, decision: DecisionIn) -> RequestOut:
    decided = await dpo.decide_request(
        ports, principal, request_id, decision.decision, decision.reasons, decision.record_ids, utcnow()
    )
    return _out(decided)


@router.post(
    "/requests/{request_id}/execute",
    responses={200: {"content": {"application/zip": {}, "application/json": {}}}},
)
async def execute(request_id: str, principal: Dpo, ports: DpoDeps) -> Any:
    """Access: returns the export (ZIP). Rectification, erasure: change records, return the request."""
    done = await dpo.execute_request(ports, principal, request_id, utcnow())
    if isinstance(done, dpo.Export):
        return Response(
            content=done.archive,
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="dpo-{request_id}.zip"'},
        )
    return _out(done)


@router.post("/requests/{request_id}/close", response_model=RequestOut)
async def close(request_id: str, principal: Dpo, ports: DpoDeps) -> RequestOut:
    return _out(await dpo.close_request(ports, principal, request_id, utcnow()))
