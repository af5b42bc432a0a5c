"""The DPO's handling of data-subject requests: register, locate, decide, execute, close; all audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from anpr_access.domain.dpo import Decision, RequestKind, RequestState, StepRefused, check_step
from anpr_access.domain.errors import Conflict, Invalid, NotFound
from anpr_access.domain.records import DpoRequest
from anpr_access.domain.search import search_key
from anpr_access.ports import DpoPorts
from anpr_core.auth import Principal
from anpr_core.ids import uuid7
from anpr_core.plates import normalise_plate


@dataclass(frozen=True)
class NewRequest:
    """A request as the DPO files it."""

    kind: RequestKind
    requester: str
    plate: str
    since: datetime
    until: datetime
    camera_id: str | None
    place: str
    details: str
    corrected_plate: str | None


@dataclass(frozen=True)
class Export:
    """What executing an access request hands over: a ZIP for the requester."""

    request_id: str
    archive: bytes


async def get_request(ports: DpoPorts, request_id: str) -> DpoRequest:
    found = await ports.store.get(request_id)
    if found is None:
        raise NotFound(f"no DPO request {request_id}: list them with GET /v1/dpo/requests")
    return found


async def _step(ports: DpoPorts, principal: Principal, request: DpoRequest, name: str) -> None:
    try:
        check_step(name, request.state, request.decision)
    except StepRefused as refusal:
        await ports.audit.record(
            principal,
            "dpo_requests",
            query={"request_id": request.request_id, "step": name},
            outcome="refused",
            detail=str(refusal),
        )
        raise


async def _save(ports: DpoPorts, request_id: str, now: datetime, **values: object) -> DpoRequest:
    await ports.store.update(request_id, now, **values)
    return await get_request(ports, request_id)


async def register_request(
    ports: DpoPorts, principal: Principal, new: NewRequest, now: datetime
) -> DpoRequest:
    if new.since.tzinfo is None or new.until.tzinfo is None:
        raise Invalid("since and until need a timezone offset")
    if new.until <= new.since:
        raise Invalid("the date range is empty: `until` must be after `since`")
    if not normalise_plate(new.plate):
        raise Invalid("the plate has no letters or digits")
    corrected = normalise_plate(new.corrected_plate or "")
    if (new.kind is RequestKind.RECTIFICATION) != bool(corrected):
        raise Invalid("a rectification needs corrected_plate, and only a rectification takes one")
    request = DpoRequest(
        request_id=str(uuid7()),
        kind=new.kind,
        state=RequestState.REGISTERED,
        requester=new.requester,
        plate=normalise_plate(new.plate),
        since=new.since,
        until=new.until,
        camera_id=new.camera_id,
        place=new.place,
        details=new.details,
        corrected_plate=corrected or None,
        registered_at=now,
        deadline=now + ports.deadline,
        located_ids=[],
        decision=None,
        decision_reasons=None,
        decided_ids=None,
        outcome=None,
        updated_at=now,
    )
    await ports.store.add(request)
    await ports.audit.record(
        principal,
        "dpo_requests",
        query={
            "step": "register",
            "request_id": request.request_id,
            "kind": new.kind.value,
            "deadline": request.deadline,
        },
        recipients=[new.requester],
    )
    return await get_request(ports, request.request_id)


async def list_requests(
    ports: DpoPorts, *, overdue: bool, state: RequestState | None, now: datetime
) -> list[DpoRequest]:
    return await ports.store.listed(state=state, overdue_at=now if overdue else None)


async def locate_records(ports: DpoPorts, principal: Principal, request_id: str, now: datetime) -> DpoRequest:
    request = await get_request(ports, request_id)
    await _step(ports, principal, request, "locate")
    # The subject's own plate, and reads OCR may have confused with it, so a misread is found too.
    found = await ports.store.locate(
        request.plate,
        search_key(request.plate, ports.confusables),
        request.since,
        request.until,
        request.camera_id,
    )
    await ports.audit.record(
        principal,
        "dpo_requests",
        query={"step": "locate", "request_id": request_id, "kind": request.kind.value},
        record_ids=found,
    )
    return await _save(ports, request_id, now, state=RequestState.LOCATED.value, located_ids=found)


async def decide_request(
    ports: DpoPorts,
    principal: Principal,
    request_id: str,
    decision: Decision,
    reasons: str,
    record_ids: list[str] | None,
    now: datetime,
) -> DpoRequest:
    request = await get_request(ports, request_id)
    await _step(ports, principal, request, "decide")
    located = list(request.located_ids)
    if decision is Decision.PARTIAL:
        chosen = record_ids or []
        stray = sorted(set(chosen) - set(located))
        if not chosen or stray:
            raise Invalid(
                "a partial decision names the located records it covers (record_ids)"
                + (f"; not located: {', '.join(stray)}" if stray else ""),
                title="Invalid decision",
            )
        # A passage is decided whole: naming one of its reads names them all.
        chosen = await ports.store.with_passages(chosen)
    elif decision is Decision.GRANT and located:
        # A grant covers the requester's own plate (passages whose consensus it is, with all their
        # reads); a look-alike (maybe another vehicle) is included only when the DPO names it in
        # a partial decision.
        own = await ports.store.of_plate(located, request.plate)
        chosen = [event_id for event_id in located if event_id in own]
    else:
        chosen = []
    await ports.audit.record(
        principal,
        "dpo_decision",
        query={"request_id": request_id, "kind": request.kind.value, "decision": decision.value},
        record_ids=chosen,
        detail=reasons,
    )
    return await _save(
        ports,
        request_id,
        now,
        state=RequestState.DECIDED.value,
        decision=decision.value,
        decision_reasons=reasons,
        decided_ids=chosen,
    )


async def execute_request(
    ports: DpoPorts, principal: Principal, request_id: str, now: datetime
) -> DpoRequest | Export:
    """Access: the export. Rectification, erasure: the records changed, the request as executed."""
    request = await get_request(ports, request_id)
    await _step(ports, principal, request, "execute")
    ids = list(request.decided_ids or [])
    if request.kind is RequestKind.ACCESS:
        archive = await ports.store.export(ids, request.plate)
        await ports.audit.record(
            principal,
            "export",
            query={"request_id": request_id, "format": "zip"},
            record_ids=ids,
            recipients=[request.requester],
        )
        await _save(
            ports, request_id, now, state=RequestState.EXECUTED.value, outcome=f"exported {len(ids)} records"
        )
        return Export(request_id, archive)
    if request.kind is RequestKind.RECTIFICATION:
        corrected = str(request.corrected_plate)
        before = await ports.store.rectify(ids, corrected, search_key(corrected, ports.confusables))
        originals = before.reads
        # The audit keeps what the records said before: the rectification is reversible on paper.
        await ports.audit.record(
            principal,
            "rectification",
            query={
                "request_id": request_id,
                "original_plates": originals,
                "original_passage_plates": before.passages,
                "corrected_plate": corrected,
            },
            record_ids=[*ids, *before.passages],
        )
        return await _save(
            ports,
            request_id,
            now,
            state=RequestState.EXECUTED.value,
            outcome=f"rectified {len(originals)} records",
        )
    erasure = await ports.store.erase(ids)
    if erasure.held_ids:
        reason = (
            f"{len(erasure.held_ids)} of the records are under a legal hold and may not be erased until it "
            "is lifted; refuse the erasure with this reason or ask the hold's owner"
        )
        await ports.audit.record(
            principal,
            "erasure",
            query={"request_id": request_id},
            record_ids=erasure.held_ids,
            outcome="refused",
            detail=reason,
        )
        raise Conflict(reason, title="Erasure refused", held_record_ids=erasure.held_ids)
    await ports.audit.record(
        principal,
        "erasure",
        query={"request_id": request_id, "erased": erasure.erased, "passages": erasure.passage_ids},
        record_ids=ids,
    )
    return await _save(
        ports, request_id, now, state=RequestState.EXECUTED.value, outcome=f"erased {erasure.erased} records"
    )


async def close_request(ports: DpoPorts, principal: Principal, request_id: str, now: datetime) -> DpoRequest:
    request = await get_request(ports, request_id)
    await _step(ports, principal, request, "close")
    await ports.audit.record(principal, "dpo_requests", query={"step": "close", "request_id": request_id})
    return await _save(ports, request_id, now, state=RequestState.CLOSED.value)
