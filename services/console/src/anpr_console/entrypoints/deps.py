"""The Annotated dependencies of the console's routes; the one module that reads app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from anpr_console.domain.session import Session, SessionError
from anpr_console.entrypoints.state import CSRF_HEADER, ConsoleState
from anpr_core.problems import Problem


def console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


State = Annotated[ConsoleState, Depends(console_state)]


def current_session(request: Request, state: State) -> Session:
    try:
        return state.read_session(request.cookies)
    except SessionError as error:
        raise Problem(401, "Unauthorized", str(error)) from error


def from_the_page(request: Request) -> None:
    if request.headers.get(CSRF_HEADER) != "1":
        raise Problem(403, "Forbidden", f"send the {CSRF_HEADER} header, as the console's own page does")


SignedIn = Annotated[Session, Depends(current_session)]
FromThePage = Depends(from_the_page)
