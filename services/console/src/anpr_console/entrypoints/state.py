"""What the console's routes and its API pass-through are handed (built by bootstrap), and its two
cookies: the session (the user's token, sealed) and a sign-in under way (PKCE verifier, state)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anpr_console.adapters.sealing import Sealer, Unreadable
from anpr_console.adapters.upstreams import Upstream
from anpr_console.domain.pkce import Attempt
from anpr_console.domain.session import Session, SessionError
from anpr_console.handlers import SignInPorts

SESSION_COOKIE = "schild_session"
ATTEMPT_COOKIE = "schild_sign_in"
ATTEMPT_TTL_S = 600
# Sent by the page's own scripts on every call that changes something: a form on another site can
# send neither it nor (SameSite=Strict) the session cookie.
CSRF_HEADER = "x-schild-console"


@dataclass(frozen=True)
class ConsoleState:
    sealer: Sealer
    sign_in: SignInPorts
    upstreams: Mapping[str, Upstream]
    public_config: dict[str, Any]
    static_dir: Path
    secure_cookies: bool
    public_url: str | None
    content_security_policy: str
    clock: Any = field(default=time.time)

    def read_session(self, cookies: Mapping[str, str]) -> Session:
        text = cookies.get(SESSION_COOKIE)
        if not text:
            raise SessionError("not signed in")
        try:
            session = Session.from_record(self.sealer.unseal(text, SESSION_COOKIE))
        except Unreadable as error:
            raise SessionError("the session cannot be read: sign in again") from error
        if session.expired(self.clock()):
            raise SessionError("the session has expired: sign in again")
        return session

    def seal_session(self, session: Session) -> tuple[str, int]:
        """The cookie's value and its lifetime: no longer than the token's."""
        return self.sealer.seal(session.as_record(), SESSION_COOKIE), max(
            0, int(session.expires_at - self.clock())
        )

    def seal_attempt(self, attempt: Attempt) -> str:
        record = {"s": attempt.state, "v": attempt.verifier, "n": attempt.nonce, "r": attempt.return_to}
        return self.sealer.seal({**record, "e": int(self.clock()) + ATTEMPT_TTL_S}, ATTEMPT_COOKIE)

    def read_attempt(self, text: str | None) -> Attempt | None:
        if not text:
            return None
        try:
            record = self.sealer.unseal(text, ATTEMPT_COOKIE)
        except Unreadable:
            return None
        if int(record.get("e", 0)) < self.clock():
            return None
        return Attempt(str(record["s"]), str(record["v"]), str(record["n"]), str(record["r"]))
