"""Data-subject requests the DPO handles: their kinds, states, decisions and deadlines. No I/O."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from anpr_access.domain.errors import Conflict


class RequestKind(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"


class RequestState(StrEnum):
    REGISTERED = "registered"
    LOCATED = "located"
    DECIDED = "decided"
    EXECUTED = "executed"
    CLOSED = "closed"


class Decision(StrEnum):
    GRANT = "grant"
    PARTIAL = "partial"
    REFUSE = "refuse"


class StepRefused(Conflict):
    """A step that the request's state does not allow; the message says what to do instead."""

    title = "Step refused"


# Which step may follow which state. Locating again is allowed until a decision is taken.
_NEXT: dict[str, set[RequestState]] = {
    "locate": {RequestState.REGISTERED, RequestState.LOCATED},
    "decide": {RequestState.LOCATED},
    "execute": {RequestState.DECIDED},
    "close": {RequestState.DECIDED, RequestState.EXECUTED},
}


def check_step(step: str, state: RequestState, decision: Decision | None = None) -> None:
    if state not in _NEXT[step]:
        allowed = ", ".join(sorted(s.value for s in _NEXT[step]))
        raise StepRefused(f"cannot {step} a request that is {state.value}; it must be one of: {allowed}")
    if step == "execute" and decision is Decision.REFUSE:
        raise StepRefused("the request was refused: there is nothing to execute; close it instead")


def is_overdue(deadline: datetime, state: RequestState, now: datetime) -> bool:
    return state is not RequestState.CLOSED and state is not RequestState.EXECUTED and now > deadline
